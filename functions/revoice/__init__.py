"""revoice: drop a talking-head video in a bucket, get it back re-voiced and lip-synced."""
