#!/bin/sh
# The one-shot init service of compose.yaml. It writes, once:
#   /var/lib/meshbus/identity   trust anchor, issuer and token signing key (meshbus identity init)
#   /var/lib/meshbus/nats-auth  users.json and auth.conf, the NATS user of every role (meshbus nats-auth)
#   /var/lib/meshbus/workload   ca.crt and a workload token per demo service account
# and hands them to the services' user (2103). Running it again keeps the trust material.
# MESHBUS_INIT_ROOT and MESHBUS_CLI replace /var/lib/meshbus and the image's CLI
# (the tests run this script outside a container).
set -eu

cli=${MESHBUS_CLI:-/app/cli/dist/main.js}
meshbus() { node "$cli" "$@"; }

root=${MESHBUS_INIT_ROOT:-/var/lib/meshbus}
identity=$root/identity
nats=$root/nats-auth
workload=$root/workload
mkdir -p "$identity" "$nats" "$workload"

if [ -f "$identity/ca.crt" ]; then
  echo "init: keeping the trust material in $identity"
else
  meshbus identity init --dir "$identity"
fi

# The logins come from compose.yaml (NATS_PASSWORD_<ROLE>), so that every service gets its own.
cat > "$nats/users.json" <<JSON
{
  "destination": { "user": "destination", "password": "$NATS_PASSWORD_DESTINATION" },
  "policy": { "user": "policy", "password": "$NATS_PASSWORD_POLICY" },
  "gateway": { "user": "gateway", "password": "$NATS_PASSWORD_GATEWAY" },
  "identity": { "user": "identity", "password": "$NATS_PASSWORD_IDENTITY" },
  "injector": { "user": "injector", "password": "$NATS_PASSWORD_INJECTOR" },
  "workload": { "user": "workload", "password": "$NATS_PASSWORD_WORKLOAD" },
  "reader": { "user": "reader", "password": "$NATS_PASSWORD_READER" },
  "tap": { "user": "tap", "password": "$NATS_PASSWORD_TAP" },
  "multicluster": { "user": "multicluster", "password": "$NATS_PASSWORD_MULTICLUSTER" }
}
JSON
meshbus nats-auth --users "$nats/users.json" > "$nats/auth.conf"

cp "$identity/ca.crt" "$workload/ca.crt"
for sa in web api store; do
  meshbus identity token --namespace demo --service-account "$sa" --expires 8760h --key "$identity/token.key" > "$workload/$sa.token"
done

if [ "$(id -u)" = 0 ]; then chown -R 2103:2103 "$identity" "$workload"; fi
chmod 0600 "$nats/users.json" "$nats/auth.conf"
echo "init: done"
