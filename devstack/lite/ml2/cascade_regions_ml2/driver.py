"""An agentless ML2 mechanism driver for the local real-regions kit.

There is no L2 backend on the kit's machine (no Open vSwitch, no OVN, no
agents), so nothing would ever bind a port and Nova boots with a port would
end in ``binding_failed``.  This driver binds every port to the first segment
it is offered, with an ``ovs`` VIF type, and marks the port ACTIVE.  Nova's
fake virt driver does not plug anything, so that is all it needs.
"""

from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class LiteMechanismDriver(api.MechanismDriver):
    """Bind every port on the first segment, without any agent."""

    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID],
                                portbindings.VIF_TYPE_OVS,
                                {portbindings.CAP_PORT_FILTER: False},
                                status=constants.PORT_STATUS_ACTIVE)
            return
