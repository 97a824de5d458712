"""
A warn-level log observer for twistd, for the benchmarks:
C{twistd --logger twistdlog.warnObserver ...} with C{bench/} on the
C{PYTHONPATH} and C{XMUC_BENCH_LOGFILE} naming the log file.

xmuc has no log-level option of its own; twistd's C{--logfile} writes every
level. This keeps warnings and errors only, like Prosody's
C{log = { warn = FILE }}. The first line names the file the C{xmuc} package
was imported from, so the benchmark can check which tree it measured.
"""

from __future__ import annotations

import os
import sys

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    textFileLogObserver,
)


def warnObserver() -> FilteringLogObserver:
    f = open(os.environ["XMUC_BENCH_LOGFILE"], "a", encoding="utf-8")
    xmuc = sys.modules.get("xmuc")
    f.write(f"xmuc package: {getattr(xmuc, '__file__', None)}\n")
    f.flush()
    return FilteringLogObserver(
        textFileLogObserver(f),
        [LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)],
    )
