"""Authorization through oslo.policy: rules registered in code, overridden by
the operator's ``policy.yaml`` (re-read while Cascade runs)."""
