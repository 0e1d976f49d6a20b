"""Synthetic wells with exact masks: backgrounds, defects, telemetry faults, realism tests."""
