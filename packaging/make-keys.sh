#!/usr/bin/env bash
# Make the four key files that every kluis-server instance of one deployment must share, in
# DIR (default /etc/kluis/keys), mode 0600.  Run it once, then copy DIR to every instance and
# chown the files to kluis.  An existing file is never replaced: a new key would make what was
# sealed or signed with the old one unreadable or unverifiable.
set -euo pipefail

dir=${1:-/etc/kluis/keys}
umask 077
mkdir -p "$dir"

exists() {
    if [[ -e "$1" ]]; then
        echo "make-keys: $1 exists; left as it is" >&2
        return 0
    fi
    return 1
}

# Ed25519 private keys, unencrypted PKCS#8 PEM.
for name in token-signing log-signing; do
    file="$dir/$name.pem"
    exists "$file" || openssl genpkey -algorithm ed25519 -out "$file"
done

# 32-byte AES keys in Kluis's sealing key format.
for name in mfa-secrets customer-master; do
    file="$dir/$name.key"
    if ! exists "$file"; then
        key=$(openssl rand -base64 32)
        printf 'kluis-sealing-key-v1:%s\n' "$key" >"$file"
    fi
done

ls -l "$dir"
