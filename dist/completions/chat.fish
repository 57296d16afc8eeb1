complete -c chat -l addr -d 'Server address, HOST:PORT [default: 127.0.0.1:8889]' -r
complete -c chat -s u -l user -d 'Log in as this user (the password is asked for unless given otherwise)' -r
complete -c chat -l poll-interval -d 'How often to poll the inbox, e.g. 500ms, 2s [default: 1s]' -r
complete -c chat -l sync-wait -d 'How long one `sync` waits for news on servers that have it, e.g. 25s (at most 60s) [default: 25s]' -r
complete -c chat -l log -d 'Write logs to this file (never to the screen)' -r -F
complete -c chat -l config -d 'Use this config file instead of the default one' -r -F
complete -c chat -l once -d 'Plain mode: run one command (e.g. "inbox") and exit' -r
complete -c chat -l ca -d 'Connect with TLS, trusting only the CA certificate(s) in this PEM file, and the server\'s own certificate if it is in the file (a self-signed one)' -r -F
complete -c chat -l tls-fingerprint -d 'Connect with TLS, trusting only the server certificate with this SHA-256 fingerprint (`SHA256:AB:CD:...`, colons optional; chat-server logs it at start)' -r
complete -c chat -l password-stdin -d 'Read the password as one line of standard input before anything else'
complete -c chat -l no-bell -d 'Don\'t ring the terminal bell on new messages'
complete -c chat -l plain -d 'Plain line mode instead of the full-screen UI'
complete -c chat -l json -d 'Plain mode: print the server\'s replies as JSON'
complete -c chat -l keep-going -d 'Plain mode: go on after a failed command'
complete -c chat -l show-token -d 'Plain mode: print the session token after login'
complete -c chat -l tls -d 'Connect with TLS, verifying the server against the system\'s root certificates'
complete -c chat -l insecure -d 'TESTING ONLY: connect with TLS without verifying the server\'s certificate, so anyone on the network can pretend to be the server'
complete -c chat -s h -l help -d 'Print help'
complete -c chat -s V -l version -d 'Print version'
