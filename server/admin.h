/* admin.h - rvpn-server's administration subcommands (owner: onboarding
 * helper): add-client, list-clients, remove-client, show-config.  They read
 * the same options and config file as the server (default -c
 * /etc/rvpn/server.conf when neither -c, -k nor -a is given), edit
 * authorized_keys atomically (common/config/rv_authkeys_edit) and reload
 * the running server: SIGHUP to the rvpn-server process that owns the
 * listening socket of -l, else `systemctl reload rvpn-server` when that unit
 * is active, else they print the command to run. */
#ifndef RV_SERVER_ADMIN_H
#define RV_SERVER_ADMIN_H

/* If argv[1] names an admin subcommand, run it, set *exit_code (0 ok, 1
 * failed, 2 usage) and return 1; otherwise return 0. */
int rv_server_admin_dispatch(int argc, char **argv, int *exit_code);

#endif
