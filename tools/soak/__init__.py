"""The soak: the real ``camsvc run`` under load and chaos for a bounded time, then a report.

    python -m tools.soak --duration 1800 --clients 200 --mediamtx real --report soak.json

Everything is on loopback, in a fresh temporary directory, on ports the OS picks. See docs/soak.md for what
it does, what it measures and how to read the report; ``tests/soak`` runs a short version in CI.

Modules: :mod:`.stack` (the processes: camsvc, MediaMTX or its emulator, and the chaos done to them),
:mod:`.client` (a small JSON-RPC client), :mod:`.workload` (clients, churn, chaos, what they saw),
:mod:`.report` (figures, file consistency, the JSON and the human summary).
"""
