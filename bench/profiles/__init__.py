"""Profiles of the server under load, read and compared: ``stacks`` (collapsed stacks:
parse, merge, write) and ``analysis`` (own and total time per frame and thread class,
the differential between two profiles). Pure: the recording is ``bench.run.profiling``,
the drawing ``bench.report.charts.flame``."""
