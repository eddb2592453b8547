"""The worker process: the Faust app and its HTTP API."""
