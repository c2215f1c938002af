"""Global-to-local mappings: the model access, id rewriting and the inspection tool."""
