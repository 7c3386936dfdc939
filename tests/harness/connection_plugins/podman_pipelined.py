# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test hosts' connection: containers.podman.podman with pipelining.

Each module then costs one `podman exec` with the module on stdin, instead of a temporary
directory, a file copy and a clean-up: the site's idempotent re-run takes about 40 % less time,
as SSH with pipelining does on real hosts. containers.podman keeps pipelining off because old
podman releases dropped stdin on `exec`; the podman of Debian 12 (4.3) passes it with `-i`.
"""

from __future__ import annotations

DOCUMENTATION = """
name: podman_pipelined
short_description: Run tasks in a local podman container, with pipelining
description:
  - The connection of the collection's test hosts (tests/harness). It is containers.podman.podman,
    and sends modules on the standard input of C(podman exec -i) when pipelining is on.
extends_documentation_fragment: [connection_pipelining]
options:
  remote_addr:
    description: The container's name or ID.
    default: inventory_hostname
    vars: [{name: inventory_hostname}, {name: ansible_host}, {name: ansible_podman_host}]
  remote_user:
    description: The user that runs commands in the container.
    env: [{name: ANSIBLE_REMOTE_USER}]
    vars: [{name: ansible_user}]
  podman_extra_args:
    description: Arguments given to every podman command, before the subcommand's.
    default: ''
    env: [{name: ANSIBLE_PODMAN_EXTRA_ARGS}]
    vars: [{name: ansible_podman_extra_args}]
  podman_executable:
    description: The podman command.
    default: podman
    env: [{name: ANSIBLE_PODMAN_EXECUTABLE}]
    vars: [{name: ansible_podman_executable}]
"""

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


class Connection(PodmanConnection):
    transport = "podman_pipelined"
    has_pipelining = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        if in_data is None:
            return super().exec_command(cmd, in_data=None, sudoable=sudoable)
        # Pipelined: the module comes on stdin, which `podman exec` passes only with -i.
        args = ["exec", "-i"] + (["--user", self.user] if self.user else [])
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
