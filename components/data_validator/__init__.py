"""Data validation gate: stops a run on corrupt or drifting data before anything trains."""
