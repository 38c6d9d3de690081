"""gunicorn's options from the settings: a wall's idle connection outlives its refresh."""

from __future__ import annotations

import dataclasses

from geo import serve
from geo.settings import get_settings


def test_keepalive_outlasts_the_walls_refresh_and_a_balancers_idle_timeout():
    s = get_settings()
    for every in (2, 15, 60, 300):
        opts = serve.options(dataclasses.replace(s, refresh_seconds=every))
        assert opts["keepalive"] > every and opts["keepalive"] > 60
        assert opts["worker_class"] == "gthread"


def test_each_web_process_takes_a_short_interpreter_lock_slice(monkeypatch):
    """gunicorn's post_fork sets GIL_SWITCH_MS in every worker."""
    import sys

    from geo import db

    before = sys.getswitchinterval()
    try:
        s = dataclasses.replace(get_settings(), gil_switch_ms=0.25)
        assert serve.apply_gil_switch(s) == 0.00025
        assert abs(sys.getswitchinterval() - 0.00025) < 1e-9
        sys.setswitchinterval(0.005)
        monkeypatch.setenv("GIL_SWITCH_MS", "0.7")
        get_settings.cache_clear()
        monkeypatch.setattr(db, "after_fork", lambda: None)
        serve.post_fork(None, None)
        assert abs(sys.getswitchinterval() - 0.0007) < 1e-9
    finally:
        sys.setswitchinterval(before)
        get_settings.cache_clear()


def test_the_switch_setting_is_checked(monkeypatch):
    from geo.settings import ConfigError, load_settings

    monkeypatch.delenv("GIL_SWITCH_MS", raising=False)
    assert load_settings().gil_switch_ms == 0.5
    for bad in ("0", "-1", "abc", "1000"):
        monkeypatch.setenv("GIL_SWITCH_MS", bad)
        try:
            load_settings()
        except ConfigError as err:
            assert "GIL_SWITCH_MS" in str(err)
        else:
            raise AssertionError(f"GIL_SWITCH_MS={bad} was accepted")


def test_the_master_freezes_its_start_up_objects_before_each_fork():
    """gunicorn.conf.py's pre_fork freezes what the preloaded app made: a worker's full
    garbage collection never walks them (bench/gc_freeze.py)."""
    import gc
    import runpy

    conf = runpy.run_path(str(serve.PROJECT_ROOT / "gunicorn.conf.py"))
    assert conf["pre_fork"] is serve.pre_fork and conf["post_fork"] is serve.post_fork
    gc.unfreeze()
    try:
        kept = [{"n": i} for i in range(1000)]  # objects alive in the master now
        assert gc.get_freeze_count() == 0
        conf["pre_fork"](None, None)
        assert gc.get_freeze_count() >= len(kept)
        assert not any(o is kept[0] for o in gc.get_objects())  # no longer walked
    finally:
        gc.unfreeze()
