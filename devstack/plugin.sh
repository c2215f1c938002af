# shellcheck shell=bash
# devstack/plugin.sh - devstack plugin for Cascade, the multi-region federation
# gateway. devstack sources this file with the mode and phase as arguments
# (`stack install`, `unstack`, ...), after devstack/settings; every devstack
# function and variable it uses is devstack's own. See docs/devstack.md.

# Keep the trace setting of the caller; restored at the end.
_XTRACE_CASCADE=$(set +o | grep xtrace)
set -o xtrace

# Console scripts land next to devstack's other services' (the global venv).
CASCADE_BIN_DIR=$(get_python_exec_prefix)


# Functions
# ---------

# The catalog URL prefix of cascade-api.
function cascade_url {
    echo "$CASCADE_SERVICE_PROTOCOL://$CASCADE_SERVICE_HOST:$CASCADE_PORT"
}

# Stop with a clear message when the node cannot run Cascade; called before
# anything is installed.
function check_cascade_prerequisites {
    if [[ "${DATABASE_TYPE:-}" != "postgresql" ]]; then
        die $LINENO "Cascade needs PostgreSQL (it uses asyncpg), not" \
            "'${DATABASE_TYPE:-none}': in local.conf, disable_service mysql" \
            "and enable_service postgresql."
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        die $LINENO "Cascade needs Python 3.11 or newer; $PYTHON is older" \
            "(set PYTHON3_VERSION, or use a newer distribution)."
    fi
    local entry
    for entry in $CASCADE_REGIONS; do
        if [[ "${entry%%:*}" == "$CASCADE_REGION_NAME" ]]; then
            die $LINENO "CASCADE_REGIONS names $CASCADE_REGION_NAME, which is" \
                "Cascade's own catalog region (CASCADE_REGION_NAME)."
        fi
    done
    if [[ "$CASCADE_REGION_NAME" == "$REGION_NAME" ]] && \
            is_service_enabled n-api g-api q-svc neutron-api; then
        die $LINENO "This node registers its own compute, image or network" \
            "endpoints in $REGION_NAME; set CASCADE_REGION_NAME to another region."
    fi
}

# Devstack's PostgreSQL URL, for asyncpg: postgresql+asyncpg://, and without
# the client_encoding query (asyncpg takes no such argument; it speaks UTF-8).
function cascade_database_url {
    local url
    url=$(database_connection_url "$CASCADE_DATABASE_NAME")
    case "$url" in
        postgresql://*|postgresql+psycopg2://*)
            url=${url#*://}
            echo "postgresql+asyncpg://${url%%\?*}"
            ;;
        *)
            return 1
            ;;
    esac
}

function install_cascade {
    if [[ "$CASCADE_USE_CONSTRAINTS" == "True" ]]; then
        setup_develop "$CASCADE_DIR"
    else
        pip_install -e "$CASCADE_DIR"
    fi
}

function configure_cascade {
    sudo install -d -o "$STACK_USER" -m 755 "$CASCADE_CONF_DIR"
    install -d -m 755 "$CASCADE_STATE_PATH"
    # Written afresh on every stack; everything Cascade does not find here has
    # the default listed in etc/cascade.conf.sample.
    rm -f "$CASCADE_CONF"
    install -m 640 /dev/null "$CASCADE_CONF"

    local db_url
    db_url=$(cascade_database_url) || \
        die $LINENO "Cascade cannot use the database URL devstack gives" \
            "(DATABASE_TYPE=${DATABASE_TYPE:-}); it needs PostgreSQL."

    iniset "$CASCADE_CONF" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    iniset "$CASCADE_CONF" DEFAULT state_path "$CASCADE_STATE_PATH"
    if is_service_enabled rabbit; then
        # Wakes cascade-sync at once when cascade-api queues work.
        iniset "$CASCADE_CONF" DEFAULT transport_url "$(get_transport_url)"
    fi

    iniset "$CASCADE_CONF" database connection "$db_url"

    iniset "$CASCADE_CONF" api bind_host "$CASCADE_BIND_HOST"
    iniset "$CASCADE_CONF" api bind_port "$CASCADE_PORT"
    iniset "$CASCADE_CONF" api workers "$CASCADE_API_WORKERS"
    iniset "$CASCADE_CONF" api public_url "$(cascade_url)"
    iniset "$CASCADE_CONF" api auth_strategy keystone

    configure_keystone_authtoken_middleware "$CASCADE_CONF" "$CASCADE_SERVICE_USER"

    iniset "$CASCADE_CONF" service_credentials auth_url "$KEYSTONE_SERVICE_URI/v3"
    iniset "$CASCADE_CONF" service_credentials username "$CASCADE_SERVICE_USER"
    iniset "$CASCADE_CONF" service_credentials password "$SERVICE_PASSWORD"
    iniset "$CASCADE_CONF" service_credentials project_name "$SERVICE_PROJECT_NAME"
    iniset "$CASCADE_CONF" service_credentials user_domain_name "$SERVICE_DOMAIN_NAME"
    iniset "$CASCADE_CONF" service_credentials project_domain_name "$SERVICE_DOMAIN_NAME"
    iniset "$CASCADE_CONF" service_credentials interface "$CASCADE_REGION_INTERFACE"

    # REGION[:ZONE] entries -> [DEFAULT] regions and one [region_<name>] each.
    local entry name zone names=""
    for entry in $CASCADE_REGIONS; do
        name=${entry%%:*}
        zone=${entry#*:}
        names=${names:+$names,}$name
        if [[ "$zone" != "$entry" && -n "$zone" ]]; then
            iniset "$CASCADE_CONF" "region_$name" availability_zone "$zone"
        fi
    done
    if [[ -n "$names" ]]; then
        iniset "$CASCADE_CONF" DEFAULT regions "$names"
    else
        echo "CASCADE_REGIONS is empty: add regions later with" \
            "'cascade-manage region add' or POST /v1/regions."
    fi

    setup_logging "$CASCADE_CONF"
}

# The service user, and Cascade's endpoints in its own catalog region. The
# services are looked up by type, so with a shared Keystone they are the ones
# the regional nodes register their endpoints under, whichever node comes first.
function create_cascade_accounts {
    local user
    user=$(get_or_create_user "$CASCADE_SERVICE_USER" "$SERVICE_PASSWORD" \
        "$SERVICE_DOMAIN_NAME")
    get_or_add_user_project_role admin "$user" "$SERVICE_PROJECT_NAME" \
        "$SERVICE_DOMAIN_NAME" "$SERVICE_DOMAIN_NAME"
    get_or_add_user_project_role service "$user" "$SERVICE_PROJECT_NAME" \
        "$SERVICE_DOMAIN_NAME" "$SERVICE_DOMAIN_NAME"

    local base service
    base=$(cascade_url)
    service=$(get_or_create_service nova compute "Nova Compute Service")
    get_or_create_endpoint "$service" "$CASCADE_REGION_NAME" "$base/compute/v2.1"
    service=$(get_or_create_service glance image "Glance Image Service")
    get_or_create_endpoint "$service" "$CASCADE_REGION_NAME" "$base/image"
    service=$(get_or_create_service neutron network "Neutron Service")
    get_or_create_endpoint "$service" "$CASCADE_REGION_NAME" "$base/networking"
}

function init_cascade {
    recreate_database "$CASCADE_DATABASE_NAME"
    "$CASCADE_BIN_DIR/cascade-manage" --config-file "$CASCADE_CONF" db sync
}

function start_cascade {
    local conf="--config-file $CASCADE_CONF"
    run_process cascade-api "$CASCADE_BIN_DIR/cascade-api $conf"
    run_process cascade-sync "$CASCADE_BIN_DIR/cascade-sync $conf"
    if is_service_enabled cascade-api; then
        echo "Waiting for cascade-api to answer at $(cascade_url)"
        if ! wait_for_service "$SERVICE_TIMEOUT" "$(cascade_url)/compute/"; then
            die $LINENO "cascade-api did not start"
        fi
    fi
}

function stop_cascade {
    stop_process cascade-api
    stop_process cascade-sync
}

function cleanup_cascade {
    sudo rm -rf "${CASCADE_CONF_DIR:?}" "${CASCADE_STATE_PATH:?}"
}


# Dispatcher
# ----------

if is_service_enabled cascade-api cascade-sync; then
    if [[ "$1" == "stack" ]]; then
        case "$2" in
            pre-install)
                check_cascade_prerequisites
                ;;
            install)
                echo_summary "Installing Cascade"
                install_cascade
                ;;
            post-config)
                echo_summary "Configuring Cascade"
                configure_cascade
                create_cascade_accounts
                init_cascade
                ;;
            extra)
                echo_summary "Starting Cascade"
                start_cascade
                ;;
            test-config)
                # No tempest plugin: the regions' own tests cover the services,
                # Cascade's suite (tests/) covers Cascade.
                :
                ;;
        esac
    elif [[ "$1" == "unstack" ]]; then
        stop_cascade
    elif [[ "$1" == "clean" ]]; then
        cleanup_cascade
    fi
fi

$_XTRACE_CASCADE
