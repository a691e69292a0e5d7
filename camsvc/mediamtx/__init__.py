"""MediaMTX: the v3 control-API client, the desired-path builder, the reconciler and
its gateway (``services.mediamtx``), and an optional supervised mediamtx process."""
