"""The domain: job manifests, job ids, the steps of a job, and where results go."""
