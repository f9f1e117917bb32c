/* rv_keycmd.h - the subcommands and informational options shared by
 * rvpn-client and rvpn-server: `genkey`, `pubkey`, `--version`.
 *
 * Owner: client helper.  The programs call rv_keycmd_dispatch() first; it
 * handles the subcommand if argv names one, so each main() stays about its
 * own options.  Keys use rv_keys.h's 44-character base64 form (as WireGuard).
 */
#ifndef RV_KEYCMD_H
#define RV_KEYCMD_H

#include <stdio.h>

/* Print a new private key and a newline to out.  When out is a regular file
 * readable by group or others, its mode is tightened to 0600 (key files are
 * refused otherwise) and a note goes to err.  Returns 0 or RV_ERR_*. */
int rv_keycmd_genkey(FILE *out, FILE *err);

/* Read one base64 private key from in (whitespace allowed around it), print
 * its public key and a newline to out.  Errors go to err, naming the input. */
int rv_keycmd_pubkey(FILE *in, FILE *out, FILE *err);

/* If argv[1] is "genkey" or "pubkey" ("pubkey -k FILE" reads FILE, with
 * the -k checks), run it and return 1 with *exit_code set (0; 2 for a usage
 * error or an unusable key; 1 when output fails); otherwise return 0. */
int rv_keycmd_dispatch(int argc, char **argv, const char *prog, int *exit_code);

/* "PROG VERSION (libsodium X[, EXTRA])" and a newline. */
void rv_keycmd_print_version(FILE *out, const char *prog, const char *extra);

#endif
