#!/usr/bin/env bash
# Refreshes the vendored GraphiQL page assets from the npm registry. The server embeds these
# files (include_bytes!) so GraphiQL works with no outside network.
#   assets/graphiql/update.sh [graphiql-version] [react-version]
# GraphiQL 3 is the last line with a browser build (UMD) that needs no bundler; React 18 is
# the last React with UMD builds.
set -euo pipefail
graphiql=${1:-3.9.0}
react=${2:-18.3.1}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "graphiql@$graphiql" "react@$react" "react-dom@$react" >/dev/null
mkdir graphiql react react-dom
tar xzf "graphiql-$graphiql.tgz" -C graphiql
tar xzf "react-$react.tgz" -C react
tar xzf "react-dom-$react.tgz" -C react-dom
cp graphiql/package/graphiql.min.js graphiql/package/graphiql.min.css "$here/"
cp react/package/umd/react.production.min.js react-dom/package/umd/react-dom.production.min.js "$here/"
cp graphiql/package/LICENSE "$here/LICENSE-graphiql"
cp react/package/LICENSE "$here/LICENSE-react"
cat >"$here/VERSIONS" <<VERSIONS
graphiql $graphiql (MIT, LICENSE-graphiql)
react $react (MIT, LICENSE-react)
react-dom $react (MIT, LICENSE-react)
VERSIONS
echo "GraphiQL $graphiql and React $react vendored into $here"
