# Copyright: brain.ops_assurance contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The connection options of every module in the action group brain.ops_assurance.api.
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the BRAiN governance API, for example C(https://brain.example.org).
      - Set it once for a play with C(module_defaults) and the group C(group/brain.ops_assurance.api).
    type: str
    required: true
  api_token:
    description:
      - Bearer token for the API. Keep it in Ansible Vault.
      - Never logged and never part of an error message.
    type: str
    required: true
  validate_certs:
    description:
      - Verify the server's TLS certificate. Turn off only for a test backend.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed the server's certificate, when it is not in the system store.
    type: path
  timeout:
    description:
      - Seconds to wait for each API response.
    type: int
    default: 30
attributes:
  action_group:
    description: Use C(group/brain.ops_assurance.api) in C(module_defaults) to set the connection options once for a play.
    support: full
    membership: [brain.ops_assurance.api]
"""
