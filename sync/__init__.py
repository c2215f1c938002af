"""Background work: region probes, delete finalisation; later jobs, replication, audit."""
