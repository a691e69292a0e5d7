"""Monitors: the background watchers other rooms read from (root child ``monitors``).

Event-loop lag, the psutil/MediaMTX sampler and the health watcher
(``system_health_update``). They run under their own
supervised child so that metrics and health events stay live while ``rpc`` or
``http`` restart or back off.
"""
