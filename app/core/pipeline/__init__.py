"""The desktop pipeline: each dropped file through compress -> upload -> job -> results, durable across a quit.

``driver`` (the Pipeline: a thread per item, the stage loop, pause/cancel/quit), ``stages`` (the work of
each stage), ``live`` (an item's in-memory requests and progress), ``store`` (the SQLite journal of stage
boundaries), ``overlap`` (compress-while-upload), ``timing`` (each stage's share of the bar, in seconds),
``sources`` (what may be queued), ``model`` (Stage, ItemSnapshot, PipelineControl: all the GUI and CLI see).
Nothing is imported here, so reading ``model`` does not load the pipeline.
"""
