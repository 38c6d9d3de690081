"""Strings of the review's PDF report job (layouts/review_pdf_job.py); registered on import."""

from __future__ import annotations

from layouts.i18n import register

register({
    "rvpdf.cancel": ("取消", "Cancel"),
    "rvpdf.busy": ("正在生成 PDF 报告", "Generating the PDF report"),
    "rvpdf.queued": ("已提交，等待后台处理…", "Submitted: waiting for a background worker…"),
    "rvpdf.step.read": ("正在读取统计数据（第 1 步，共 3 步）…", "Reading the figures (step 1 of 3)…"),
    "rvpdf.step.render": ("正在排版生成 PDF（第 2 步，共 3 步）…", "Laying out the PDF (step 2 of 3)…"),
    "rvpdf.step.done": ("已生成（第 3 步，共 3 步）", "Done (step 3 of 3)"),
    "rvpdf.done": ("已生成，已开始下载：{name}（{kb} KB）", "Ready, download started: {name} ({kb} KB)"),
    "rvpdf.cancelled": ("已取消生成 PDF 报告，未生成任何文件。", "The PDF report was cancelled; no file was made."),
    "rvpdf.again": ("可再次点击“下载 PDF”重新生成。", "Click “Download PDF” to make it again."),
})
