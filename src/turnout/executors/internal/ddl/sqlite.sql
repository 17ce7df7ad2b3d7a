-- turnout schema for sqlite, revision 0011_claim_order.
-- Generated from turnout.executors.internal.schema; do not edit. Regenerate with:
--   python -m turnout.executors.internal.migrate --write-ddl

CREATE TABLE turnout_approvals (
	approval_id VARCHAR(64) NOT NULL,
	run_id VARCHAR(64) NOT NULL,
	workflow_id VARCHAR(255) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	name VARCHAR(255) NOT NULL,
	state VARCHAR(16) NOT NULL,
	details JSON NOT NULL,
	requested_at DATETIME NOT NULL,
	timeout_at DATETIME,
	decided_at DATETIME,
	decided_by VARCHAR(255),
	reason TEXT,
	CONSTRAINT pk_turnout_approvals PRIMARY KEY (approval_id),
	CONSTRAINT ck_turnout_approvals_state CHECK (state IN ('approved', 'pending', 'rejected', 'timed_out')),
	CONSTRAINT ck_turnout_approvals_decided_at CHECK ((state = 'pending') = (decided_at IS NULL))
);

CREATE INDEX ix_turnout_approvals_pending ON turnout_approvals (tenant_id, requested_at) WHERE state = 'pending';

CREATE UNIQUE INDEX ix_turnout_approvals_run_id_name ON turnout_approvals (run_id, name) WHERE state = 'pending';

CREATE TABLE turnout_artifacts (
	artifact_id VARCHAR(64) NOT NULL,
	run_id VARCHAR(64) NOT NULL,
	workflow_id VARCHAR(255) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	name VARCHAR(255) NOT NULL,
	uri TEXT NOT NULL,
	media_type VARCHAR(255) NOT NULL,
	size_bytes BIGINT,
	digest VARCHAR(255),
	created_at DATETIME NOT NULL,
	attributes JSON NOT NULL,
	CONSTRAINT pk_turnout_artifacts PRIMARY KEY (artifact_id)
);

CREATE INDEX ix_turnout_artifacts_tenant_id_run_id ON turnout_artifacts (tenant_id, run_id);

CREATE TABLE turnout_events (
	id INTEGER NOT NULL,
	run_id VARCHAR(64) NOT NULL,
	seq INTEGER NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	workflow_id VARCHAR(255) NOT NULL,
	type VARCHAR(64) NOT NULL,
	at DATETIME NOT NULL,
	correlation_id VARCHAR(64) NOT NULL,
	attributes JSON NOT NULL,
	CONSTRAINT pk_turnout_events PRIMARY KEY (id),
	CONSTRAINT ck_turnout_events_type CHECK (type IN ('activity_cancel_requested', 'activity_canceled', 'activity_completed', 'activity_failed', 'activity_scheduled', 'activity_started', 'activity_timed_out', 'approval_decided', 'approval_requested', 'artifact_recorded', 'child_workflow_canceled', 'child_workflow_completed', 'child_workflow_failed', 'child_workflow_started', 'child_workflow_terminated', 'child_workflow_timed_out', 'dead_lettered', 'external_workflow_cancel_requested', 'external_workflow_signaled', 'lease_expired', 'marker_recorded', 'policy_decided', 'request_cancel_external_workflow_failed', 'request_cancel_external_workflow_initiated', 'retry_scheduled', 'signal_external_workflow_failed', 'signal_external_workflow_initiated', 'signal_received', 'state_changed', 'timer_canceled', 'timer_fired', 'timer_started', 'upsert_workflow_search_attributes', 'workflow_cancel_requested', 'workflow_canceled', 'workflow_completed', 'workflow_continued_as_new', 'workflow_failed', 'workflow_properties_modified', 'workflow_started', 'workflow_task_completed', 'workflow_task_failed', 'workflow_terminated', 'workflow_timed_out', 'workflow_update_accepted', 'workflow_update_completed')),
	CONSTRAINT ck_turnout_events_seq CHECK (seq >= 1),
	CONSTRAINT uq_turnout_events_run_id_seq UNIQUE (run_id, seq)
);

CREATE TABLE turnout_policy_decisions (
	decision_id VARCHAR(64) NOT NULL,
	run_id VARCHAR(64) NOT NULL,
	workflow_id VARCHAR(255) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	name VARCHAR(255) NOT NULL,
	outcome VARCHAR(32) NOT NULL,
	decided_by VARCHAR(255),
	reason TEXT,
	decided_at DATETIME NOT NULL,
	attributes JSON NOT NULL,
	CONSTRAINT pk_turnout_policy_decisions PRIMARY KEY (decision_id),
	CONSTRAINT ck_turnout_policy_decisions_outcome CHECK (outcome IN ('allow', 'approved', 'deny', 'rejected', 'require_approval', 'timed_out'))
);

CREATE INDEX ix_turnout_policy_decisions_tenant_id_run_id ON turnout_policy_decisions (tenant_id, run_id);

CREATE TABLE turnout_queries (
	query_id VARCHAR(64) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	run_id VARCHAR(64) NOT NULL,
	workflow_id VARCHAR(255) NOT NULL,
	workflow_type VARCHAR(255) NOT NULL,
	task_queue VARCHAR(255) NOT NULL,
	name VARCHAR(255) NOT NULL,
	args JSON NOT NULL,
	state VARCHAR(16) NOT NULL,
	result JSON,
	error TEXT,
	answered_by VARCHAR(255),
	requested_at DATETIME NOT NULL,
	expires_at DATETIME NOT NULL,
	header JSON,
	CONSTRAINT pk_turnout_queries PRIMARY KEY (query_id),
	CONSTRAINT ck_turnout_queries_state CHECK (state IN ('answered', 'claimed', 'requested'))
);

CREATE INDEX ix_turnout_queries_expires_at ON turnout_queries (expires_at);

CREATE INDEX ix_turnout_queries_requested ON turnout_queries (task_queue, requested_at) WHERE state = 'requested';

CREATE TABLE turnout_queue_items (
	id INTEGER NOT NULL,
	kind VARCHAR(32) NOT NULL,
	state VARCHAR(16) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	task_queue VARCHAR(255) NOT NULL,
	run_id VARCHAR(64) NOT NULL,
	workflow_id VARCHAR(255) NOT NULL,
	name VARCHAR(255),
	ref VARCHAR(64),
	payload JSON NOT NULL,
	priority INTEGER DEFAULT '0' NOT NULL,
	attempt INTEGER DEFAULT '1' NOT NULL,
	available_at DATETIME NOT NULL,
	deadline_at DATETIME,
	lease_owner VARCHAR(255),
	lease_expires_at DATETIME,
	started_at DATETIME,
	heartbeat_at DATETIME,
	heartbeat_details JSON,
	cancel_requested BOOLEAN DEFAULT 0 NOT NULL,
	last_failure JSON,
	idempotency_key VARCHAR(255),
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	sticky_worker VARCHAR(255),
	CONSTRAINT pk_turnout_queue_items PRIMARY KEY (id),
	CONSTRAINT ck_turnout_queue_items_kind CHECK (kind IN ('activity_task', 'timer', 'workflow_task')),
	CONSTRAINT ck_turnout_queue_items_state CHECK (state IN ('canceled', 'claimed', 'completed', 'dead', 'failed', 'queued', 'running')),
	CONSTRAINT ck_turnout_queue_items_lease CHECK ((state IN ('claimed', 'running')) = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);

CREATE INDEX ix_turnout_queue_items_leased ON turnout_queue_items (lease_expires_at) WHERE state IN ('claimed', 'running');

CREATE UNIQUE INDEX ix_turnout_queue_items_pending_wft ON turnout_queue_items (run_id) WHERE kind = 'workflow_task' AND state = 'queued';

CREATE INDEX ix_turnout_queue_items_ready ON turnout_queue_items (task_queue, kind, priority DESC, available_at, id) WHERE state = 'queued';

CREATE INDEX ix_turnout_queue_items_run_id_kind ON turnout_queue_items (run_id, kind);

CREATE INDEX ix_turnout_queue_items_running_wft ON turnout_queue_items (run_id) WHERE kind = 'workflow_task' AND state IN ('claimed', 'running');

CREATE UNIQUE INDEX uq_turnout_queue_items_idempotency_key ON turnout_queue_items (idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE turnout_runs (
	run_id VARCHAR(64) NOT NULL,
	task_id VARCHAR(64) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	workflow_id VARCHAR(255) NOT NULL,
	workflow_type VARCHAR(255) NOT NULL,
	task_queue VARCHAR(255) NOT NULL,
	correlation_id VARCHAR(64) NOT NULL,
	state VARCHAR(32) NOT NULL,
	attempt INTEGER DEFAULT '1' NOT NULL,
	input JSON NOT NULL,
	result JSON,
	failure JSON,
	requested_at DATETIME NOT NULL,
	started_at DATETIME,
	closed_at DATETIME,
	updated_at DATETIME NOT NULL,
	execution_deadline DATETIME,
	parent_workflow_id VARCHAR(255),
	parent_run_id VARCHAR(64),
	parent_ref VARCHAR(64),
	continued_from_run_id VARCHAR(64),
	next_seq INTEGER DEFAULT '1' NOT NULL,
	workflow_task_count INTEGER DEFAULT '0' NOT NULL,
	cancel_requested BOOLEAN DEFAULT 0 NOT NULL,
	options JSON,
	memo JSON,
	search_attributes JSON,
	sticky_worker VARCHAR(255),
	CONSTRAINT pk_turnout_runs PRIMARY KEY (run_id),
	CONSTRAINT ck_turnout_runs_state CHECK (state IN ('canceled', 'claimed', 'completed', 'continued_as_new', 'failed', 'queued', 'running', 'terminated', 'timed_out', 'waiting_approval')),
	CONSTRAINT ck_turnout_runs_closed_at CHECK ((state IN ('canceled', 'completed', 'continued_as_new', 'failed', 'terminated', 'timed_out')) = (closed_at IS NOT NULL))
);

CREATE INDEX ix_turnout_runs_parent_run_id ON turnout_runs (parent_run_id);

CREATE INDEX ix_turnout_runs_tenant_id_state_workflow_type ON turnout_runs (tenant_id, state, workflow_type);

CREATE UNIQUE INDEX ix_turnout_runs_tenant_id_workflow_id ON turnout_runs (tenant_id, workflow_id) WHERE state IN ('claimed', 'queued', 'running', 'waiting_approval');

CREATE INDEX ix_turnout_runs_tenant_id_workflow_id_requested_at ON turnout_runs (tenant_id, workflow_id, requested_at);

CREATE TABLE turnout_schedules (
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	schedule_id VARCHAR(255) NOT NULL,
	schedule JSON NOT NULL,
	paused BOOLEAN DEFAULT 0 NOT NULL,
	due_at DATETIME,
	processed_until DATETIME NOT NULL,
	info JSON NOT NULL,
	memo JSON,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	CONSTRAINT pk_turnout_schedules PRIMARY KEY (tenant_id, schedule_id)
);

CREATE INDEX ix_turnout_schedules_due ON turnout_schedules (due_at) WHERE NOT paused;

CREATE TABLE turnout_search_attribute_names (
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	name VARCHAR(255) NOT NULL,
	type VARCHAR(16) NOT NULL,
	CONSTRAINT pk_turnout_search_attribute_names PRIMARY KEY (tenant_id, name),
	CONSTRAINT ck_turnout_search_attribute_names_type CHECK (type IN ('Bool', 'Datetime', 'Double', 'Int', 'Keyword', 'KeywordList', 'Text'))
);

CREATE TABLE turnout_search_values (
	run_id VARCHAR(64) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	name VARCHAR(255) NOT NULL,
	position INTEGER DEFAULT '0' NOT NULL,
	keyword VARCHAR(255),
	text TEXT,
	integer BIGINT,
	real FLOAT,
	flag BOOLEAN,
	moment DATETIME,
	CONSTRAINT pk_turnout_search_values PRIMARY KEY (run_id, name, position)
);

CREATE INDEX ix_turnout_search_values_tenant_id_name_integer ON turnout_search_values (tenant_id, name, integer);

CREATE INDEX ix_turnout_search_values_tenant_id_name_keyword ON turnout_search_values (tenant_id, name, keyword);

CREATE INDEX ix_turnout_search_values_tenant_id_name_moment ON turnout_search_values (tenant_id, name, moment);

CREATE INDEX ix_turnout_search_values_tenant_id_name_real ON turnout_search_values (tenant_id, name, real);

CREATE TABLE turnout_tasks (
	task_id VARCHAR(64) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	workflow_id VARCHAR(255) NOT NULL,
	workflow_type VARCHAR(255) NOT NULL,
	task_queue VARCHAR(255) NOT NULL,
	input JSON NOT NULL,
	idempotency_key VARCHAR(255),
	correlation_id VARCHAR(64) NOT NULL,
	requested_at DATETIME NOT NULL,
	CONSTRAINT pk_turnout_tasks PRIMARY KEY (task_id),
	CONSTRAINT uq_turnout_tasks_tenant_id_idempotency_key UNIQUE (tenant_id, idempotency_key)
);

CREATE INDEX ix_turnout_tasks_tenant_id_workflow_id ON turnout_tasks (tenant_id, workflow_id);

CREATE TABLE turnout_updates (
	run_id VARCHAR(64) NOT NULL,
	update_id VARCHAR(255) NOT NULL,
	workflow_id VARCHAR(255) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	name VARCHAR(255) NOT NULL,
	args JSON NOT NULL,
	state VARCHAR(16) NOT NULL,
	result JSON,
	failure JSON,
	requested_at DATETIME NOT NULL,
	finished_at DATETIME,
	header JSON,
	CONSTRAINT pk_turnout_updates PRIMARY KEY (run_id, update_id),
	CONSTRAINT ck_turnout_updates_state CHECK (state IN ('accepted', 'completed', 'rejected', 'requested'))
);

CREATE INDEX ix_turnout_updates_requested ON turnout_updates (run_id, requested_at) WHERE state = 'requested';

CREATE TABLE turnout_workers (
	identity VARCHAR(255) NOT NULL,
	tenant_id VARCHAR(128) DEFAULT 'default' NOT NULL,
	task_queue VARCHAR(255) NOT NULL,
	host VARCHAR(255) NOT NULL,
	pid INTEGER NOT NULL,
	workflow_types JSON NOT NULL,
	activity_types JSON NOT NULL,
	max_workflow_tasks INTEGER NOT NULL,
	max_activities INTEGER NOT NULL,
	started_at DATETIME NOT NULL,
	last_seen_at DATETIME NOT NULL,
	CONSTRAINT pk_turnout_workers PRIMARY KEY (identity)
);

CREATE INDEX ix_turnout_workers_tenant_id_task_queue ON turnout_workers (tenant_id, task_queue);

CREATE TABLE turnout_alembic_version (
	version_num VARCHAR(32) NOT NULL,
	CONSTRAINT turnout_alembic_version_pkc PRIMARY KEY (version_num)
);

INSERT INTO turnout_alembic_version (version_num) VALUES ('0011_claim_order');
