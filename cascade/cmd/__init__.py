"""Console scripts."""
import warnings

# oslo.messaging imports oslo.service, whose eventlet backend warns on import even
# though Cascade never uses eventlet; keep operators' terminals clean.
warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
