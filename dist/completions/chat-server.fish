# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_chat_server_global_optspecs
    string join \n listen= tls-cert= tls-key= db= data-dir= no-demo-users users= max-line= max-connections= idle-timeout= session-ttl= allow-register max-connections-per-ip= max-request-rate= max-message= max-inbox= max-sync-wait= login-backoff= login-backoff-loopback login-backoff-max= metrics-listen= proxy-protocol-from= log-format= h/help V/version
end

function __fish_chat_server_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_chat_server_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_chat_server_using_subcommand
    set -l cmd (__fish_chat_server_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c chat-server -n "__fish_chat_server_needs_command" -l listen -d 'Address to listen on; repeat to listen on several. `tls://ADDR` serves TLS there, `tcp://ADDR` plain text; a bare ADDR is TLS when --tls-cert is given, else plain. The default is loopback only: use 0.0.0.0:8889 to serve others' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l tls-cert -d 'PEM certificate chain for TLS listeners' -r -F
complete -c chat-server -n "__fish_chat_server_needs_command" -l tls-key -d 'PEM private key for TLS listeners' -r -F
complete -c chat-server -n "__fish_chat_server_needs_command" -l db -d 'Storage: `memory` (nothing survives a restart); `sqlite://PATH` (or `sqlite:PATH`), a SQLite file; or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`; `?pool_size=N`: connections per node), PostgreSQL shared by several nodes. Default: the SQLite file chat.db in --data-dir' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l data-dir -d 'Directory of the default database file (default: the platform\'s data directory)' -r -F
complete -c chat-server -n "__fish_chat_server_needs_command" -l users -d 'Create the accounts listed in FILE (lines: `username password display name...`)' -r -F
complete -c chat-server -n "__fish_chat_server_needs_command" -l max-line -d 'Longest request line in bytes; a longer one gets an ERROR and the connection closes' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l max-connections -d 'Most connections at once (default: the open-file limit less a reserve)' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l idle-timeout -d 'Close connections that complete no request for this long (e.g. 30m, 90s); an unfinished line does not count' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l session-ttl -d 'Sessions unused for this long expire (e.g. 30m)' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l max-connections-per-ip -d 'Most connections from one source address (0: no limit)' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l max-request-rate -d 'Most requests per second on one connection; more get an ERROR (0: no limit)' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l max-message -d 'Longest message text in bytes' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l max-inbox -d 'Most undelivered messages waiting for one user; more get `ERROR recipient inbox full` and the oldest are kept (0: no limit)' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l max-sync-wait -d 'Longest a `sync` request waits for a message before answering with none (at most 60 s); clients asking more wait this long' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l login-backoff -d 'After 5 failed logins from an address or for a username, each further attempt waits this long before it is checked, doubling with each failure (0s: no backoff)' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l login-backoff-max -d 'Cap of the per-address login delay (the per-username one is capped at 5 s, so nobody can lock a user out from elsewhere)' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l metrics-listen -d 'Serve Prometheus metrics at http://ADDR/metrics (off by default). The endpoint has no authentication: keep it on loopback or a private network' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l proxy-protocol-from -d 'Trust PROXY protocol headers (v1 and v2, e.g. haproxy `send-proxy`, nginx `proxy_protocol on`) from this address or network (e.g. 10.0.0.5, 10.0.0.0/8); repeat for several. Connections from there must start with one; their client address then counts for limits and logs. Nobody else may send one' -r
complete -c chat-server -n "__fish_chat_server_needs_command" -l log-format -d 'Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=chat_server=debug)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c chat-server -n "__fish_chat_server_needs_command" -l no-demo-users -d 'Don\'t create the course\'s demo users (messi, henderson, lineker; password surabaya)'
complete -c chat-server -n "__fish_chat_server_needs_command" -l allow-register -d 'Accept `register <username> <password> [display name]` from anyone who can connect'
complete -c chat-server -n "__fish_chat_server_needs_command" -l login-backoff-loopback -d 'Apply the per-address login delay to loopback clients too (off by default: behind a local proxy every client shares one loopback address)'
complete -c chat-server -n "__fish_chat_server_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c chat-server -n "__fish_chat_server_needs_command" -s V -l version -d 'Print version'
complete -c chat-server -n "__fish_chat_server_needs_command" -f -a "user" -d 'Manage accounts in the database (works while the server runs)'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and not __fish_seen_subcommand_from add list passwd remove" -l db -d 'Storage: `memory` (nothing survives a restart); `sqlite://PATH` (or `sqlite:PATH`), a SQLite file; or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`; `?pool_size=N`: connections per node), PostgreSQL shared by several nodes. Default: the SQLite file chat.db in --data-dir' -r
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and not __fish_seen_subcommand_from add list passwd remove" -l data-dir -d 'Directory of the default database file (default: the platform\'s data directory)' -r -F
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and not __fish_seen_subcommand_from add list passwd remove" -s h -l help -d 'Print help'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and not __fish_seen_subcommand_from add list passwd remove" -f -a "add" -d 'Create an account'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and not __fish_seen_subcommand_from add list passwd remove" -f -a "list" -d 'List accounts: name, display name, country (never passwords or hashes)'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and not __fish_seen_subcommand_from add list passwd remove" -f -a "passwd" -d 'Set a new password for an account'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and not __fish_seen_subcommand_from add list passwd remove" -f -a "remove" -d 'Remove an account and end its sessions; its messages stay as history'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from add" -l display-name -d 'Name shown to others (default: the account name)' -r
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from add" -l country -d 'Country (the course\'s `negara`)' -r
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from add" -l db -d 'Storage: `memory` (nothing survives a restart); `sqlite://PATH` (or `sqlite:PATH`), a SQLite file; or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`; `?pool_size=N`: connections per node), PostgreSQL shared by several nodes. Default: the SQLite file chat.db in --data-dir' -r
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from add" -l data-dir -d 'Directory of the default database file (default: the platform\'s data directory)' -r -F
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from add" -l password-stdin -d 'Read the password from the first line of standard input instead of a prompt'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from list" -l db -d 'Storage: `memory` (nothing survives a restart); `sqlite://PATH` (or `sqlite:PATH`), a SQLite file; or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`; `?pool_size=N`: connections per node), PostgreSQL shared by several nodes. Default: the SQLite file chat.db in --data-dir' -r
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from list" -l data-dir -d 'Directory of the default database file (default: the platform\'s data directory)' -r -F
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from passwd" -l db -d 'Storage: `memory` (nothing survives a restart); `sqlite://PATH` (or `sqlite:PATH`), a SQLite file; or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`; `?pool_size=N`: connections per node), PostgreSQL shared by several nodes. Default: the SQLite file chat.db in --data-dir' -r
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from passwd" -l data-dir -d 'Directory of the default database file (default: the platform\'s data directory)' -r -F
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from passwd" -l password-stdin -d 'Read the password from the first line of standard input instead of a prompt'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help'
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from remove" -l db -d 'Storage: `memory` (nothing survives a restart); `sqlite://PATH` (or `sqlite:PATH`), a SQLite file; or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`; `?pool_size=N`: connections per node), PostgreSQL shared by several nodes. Default: the SQLite file chat.db in --data-dir' -r
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from remove" -l data-dir -d 'Directory of the default database file (default: the platform\'s data directory)' -r -F
complete -c chat-server -n "__fish_chat_server_using_subcommand user; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
