"""Feature flags in every process: the flagd-format evaluation engine (``engine``), documents and pilot rule
builders (``documents``), the in-process copy and its watcher (``local``), the OpenFeature provider
(``provider``) and fault-injection flags (``faults``)."""
