#!/usr/bin/env bash
# The course on a JupyterHub on one machine, set up (or repaired) as root from a clone of this
# repository that only root can read (it holds the solutions): git clone ... /root/embeddings,
# then /root/embeddings/deploy/hub-setup.sh. Every step is safe to run again. What it does, and
# what must stay private and why: docs (hub and exchange); grader_tests/hub/ runs this very file.
#
# Settings (environment, with their defaults):
#   LABGRADER_VENV=/opt/labgrader               the machine-wide environment every user's server runs
#   LABGRADER_INSTRUCTOR=instructor             the unix account that owns and runs the course
#   LABGRADER_COURSE=/home/$LABGRADER_INSTRUCTOR/course   the course root (made 0700, the instructor's)
#   LABGRADER_EXCHANGE=/srv/nbgrader/exchange   the exchange's root
#   LABGRADER_JUPYTER_CONFIG=/etc/jupyter       where the machine-wide config goes
#   LABGRADER_HUB_GROUP=jupyterhub-users        who may log in: the students and the instructor
#   LABGRADER_RELEASE=                          assignments to generate and release now, due in 14 days
#   PYTHON=python3                              the interpreter a new environment is made with
# The accounts are the machine's (made before, not here): groupadd jupyterhub-users, then for the
# instructor and each student useradd -m -U -G jupyterhub-users <name> and a password (chpasswd).
set -euo pipefail
umask 022
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd /  # python -m runs the package of the current folder first: never the clone's
VENV=${LABGRADER_VENV:-/opt/labgrader}
INSTRUCTOR=${LABGRADER_INSTRUCTOR:-instructor}
EXCHANGE=${LABGRADER_EXCHANGE:-/srv/nbgrader/exchange}
CONFIG=${LABGRADER_JUPYTER_CONFIG:-/etc/jupyter}
GROUP=${LABGRADER_HUB_GROUP:-jupyterhub-users}
PYTHON=${PYTHON:-python3}
CHP_VERSION=5.3.0

say() { printf '\033[1m[hub-setup]\033[0m %s\n' "$*"; }
[[ $(id -u) -eq 0 ]] || { say "run me as root"; exit 1; }
id "$INSTRUCTOR" >/dev/null 2>&1 || { say "no account $INSTRUCTOR: useradd -m -U -G $GROUP $INSTRUCTOR"; exit 1; }
getent group "$GROUP" >/dev/null || { say "no group $GROUP: groupadd $GROUP, then usermod -aG $GROUP <name>"; exit 1; }
COURSE=${LABGRADER_COURSE:-$(getent passwd "$INSTRUCTOR" | cut -d: -f6)/course}

say "1. the machine-wide environment $VENV: the engine as a package (no course in it)"
[[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REPO/requirements.txt"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp -r "$REPO/pyproject.toml" "$REPO/labgrader" "$build/"  # a wheel of labgrader/ alone, built outside the clone
find "$build/labgrader" -name __pycache__ -prune -exec rm -rf {} +
"$VENV/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
  --wheel-dir "$build/dist" "$build"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$build"/dist/*.whl
extension=$VENV/etc/jupyter/jupyter_server_config.d/labgrader.json  # the formgrader's Content-Security-Policy
cmp -s "$REPO/jupyter-config/jupyter_server_config.d/labgrader.json" "$extension" ||
  install -D -m 644 "$REPO/jupyter-config/jupyter_server_config.d/labgrader.json" "$extension"
[[ -x $VENV/chp/node_modules/.bin/configurable-http-proxy && $(cat "$VENV/chp/.version" 2>/dev/null) == "$CHP_VERSION" ]] || {
  npm install --prefix "$VENV/chp" --no-audit --no-fund --no-save "configurable-http-proxy@$CHP_VERSION" >/dev/null
  echo "$CHP_VERSION" > "$VENV/chp/.version"; }

say "2. the exchange, the course folder $COURSE and the machine-wide config in $CONFIG"
"$VENV/bin/python" -m labgrader setup --instructor "$INSTRUCTOR" --course-dir "$COURSE" --from "$REPO" \
  --exchange "$EXCHANGE" --config-dir "$CONFIG"

as_instructor() {
  (cd "$COURSE" && runuser -u "$INSTRUCTOR" -- env -i HOME="$(getent passwd "$INSTRUCTOR" | cut -d: -f6)" \
     USER="$INSTRUCTOR" LANG=C.UTF-8 TZ=UTC PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" \
     JUPYTER_CONFIG_PATH="$CONFIG" "$@")
}
due=$(date -u -d '+14 days' '+%Y-%m-%d 17:00:00 UTC')  # always ahead of the day this runs
for assignment in ${LABGRADER_RELEASE:-}; do
  say "3. $assignment: generated, released, due $due (as $INSTRUCTOR)"
  as_instructor nbgrader generate_assignment "$assignment" --force
  as_instructor nbgrader release_assignment "$assignment" --force
  as_instructor nbgrader db assignment add "$assignment" --duedate="$due"
done

say "4. the check: python -m labgrader doctor"
status=0
JUPYTER_CONFIG_PATH=$CONFIG "$VENV/bin/python" -m labgrader doctor --course "$COURSE" --group "$GROUP" || status=$?
if ((status >= 2)); then say "doctor found something unsafe (above): fix it, then run me again"; exit 2; fi

hub_config=$("$VENV/bin/python" -c 'import os, labgrader.exchange as e; print(os.path.join(os.path.dirname(e.__file__), "jupyterhub_config.py"))')
say "done. Start the hub as root (reach it through ssh -L 8000:127.0.0.1:8000, or put TLS in front):"
echo "LABGRADER_HUB_URL=http://127.0.0.1:8000 LABGRADER_HUB_GROUP=$GROUP LABGRADER_JUPYTER_CONFIG=$CONFIG" \
  "LABGRADER_COURSE=$COURSE LABGRADER_INSTRUCTOR=$INSTRUCTOR $VENV/bin/jupyterhub -f $hub_config"
[[ -n ${LABGRADER_RELEASE:-} ]] || echo "Then, as $INSTRUCTOR in $COURSE: nbgrader generate_assignment <name> --force;" \
  "nbgrader release_assignment <name>; nbgrader db assignment add <name> --duedate=\"$due\""
