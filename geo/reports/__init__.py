"""Printable one-page reports of an area: HTML (:mod:`.report`) and PDF/PNG (:mod:`.pdf`)."""
