#!/usr/bin/env bash
# The quick start: install, build, then produce a signed SAML response from a demo IdP (keys
# generated now) and validate it with `claimgate saml validate`, printing every check.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
BIN=build/release/src/cli/claimgate
DEMO=${CLAIMGATE_DEMO_DIR:-$(mktemp -d /tmp/claimgate-demo.XXXXXX)}
echo
"$BIN" saml demo --out "$DEMO"
echo
echo "\$ claimgate saml validate $DEMO/response.b64 ..."
"$BIN" saml validate "$DEMO/response.b64" --idp-metadata "$DEMO/idp-metadata.xml" \
  --sp-entity-id http://127.0.0.1:8080/saml/metadata --acs-url http://127.0.0.1:8080/saml/acs
echo
echo "The response above was accepted. Try breaking it:"
echo "  $BIN saml validate $DEMO/response.b64 --idp-metadata $DEMO/idp-metadata.xml \\"
echo "      --sp-entity-id https://someone-else.example --acs-url http://127.0.0.1:8080/saml/acs"
echo "Our SP metadata for this demo: $BIN saml metadata --config $DEMO/config.yaml"
