"""Pure computation for driftline: reference profiles, mergeable window sketches, drift and
data-quality statistics, calibrated decisions. No Kafka, no files, no clock, no logging."""
