/* import.h - rvpn-client import (owner: onboarding helper): turn the
 * rvpn:// URL printed by `rvpn-server add-client` into a client config. */
#ifndef RV_CLIENT_IMPORT_H
#define RV_CLIENT_IMPORT_H

/* argv[1] == "import": rvpn-client import URL|FILE|- [-o FILE]
 * [--socks [BIND:]PORT] [--force].  Returns the exit code. */
int rv_client_cmd_import(int argc, char **argv);

#endif
