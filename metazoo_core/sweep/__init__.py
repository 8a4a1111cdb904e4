"""Sweeps at cluster scale: plans of many units of work, a resumable result store, submitit executors, collect.

    plan.py       the plan format (YAML) and deterministic unit ids
    store.py      the result store: one folder per unit, locks, done-markers, failure records, status
    units.py      what each kind of unit does (metamer, activations, null)
    worker.py     the claim → run → commit loop with bounded retries
    executors.py  chunking and waiting: SLURM job arrays and local processes (via jobs.py), in-process debug
    jobs.py       the submitit side (the `cluster` extra): job callable, executor, job outcome
    collect.py    one table (Parquet / SQLite / CSV) of every record

Importing this package is cheap (no torch, no submitit).
"""
