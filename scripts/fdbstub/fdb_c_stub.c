/*
 * A stand-in for libfdb_c that fails every call, so that `-tags fdb` code
 * can be compiled, linked and vetted on a machine without FoundationDB
 * (scripts/fdbcheck.sh). It never talks to a cluster: a binary linked
 * against it can select no API version, open no database and run no
 * transaction.
 */
#define FDB_API_VERSION 730
#include <foundationdb/fdb_c.h>
#include <stddef.h>

/* internal_error: what every call of the stub answers. */
#define STUB_ERROR 4100

/* One future for every call that returns one: ready, and failed. */
struct FDB_future {
	int unused;
};
static struct FDB_future failed;

const char* fdb_get_error(fdb_error_t code) {
	(void)code;
	return "stub libfdb_c: FoundationDB is not installed (compile check only)";
}
fdb_bool_t fdb_error_predicate(int predicate_test, fdb_error_t code) {
	(void)predicate_test;
	(void)code;
	return 0;
}

fdb_error_t fdb_select_api_version_impl(int runtime_version, int header_version) {
	(void)runtime_version;
	(void)header_version;
	return STUB_ERROR;
}
int fdb_get_max_api_version(void) { return 0; }
fdb_error_t fdb_network_set_option(FDBNetworkOption o, const uint8_t* v, int n) {
	(void)o, (void)v, (void)n;
	return STUB_ERROR;
}
fdb_error_t fdb_setup_network(void) { return STUB_ERROR; }
fdb_error_t fdb_run_network(void) { return STUB_ERROR; }
fdb_error_t fdb_stop_network(void) { return STUB_ERROR; }

void fdb_future_cancel(FDBFuture* f) { (void)f; }
void fdb_future_release_memory(FDBFuture* f) { (void)f; }
void fdb_future_destroy(FDBFuture* f) { (void)f; }
fdb_error_t fdb_future_block_until_ready(FDBFuture* f) {
	(void)f;
	return 0;
}
fdb_bool_t fdb_future_is_ready(FDBFuture* f) {
	(void)f;
	return 1;
}
fdb_error_t fdb_future_set_callback(FDBFuture* f, FDBCallback cb, void* p) {
	(void)f, (void)cb, (void)p;
	return STUB_ERROR;
}
fdb_error_t fdb_future_get_error(FDBFuture* f) {
	(void)f;
	return STUB_ERROR;
}
fdb_error_t fdb_future_get_int64(FDBFuture* f, int64_t* out) {
	(void)f;
	*out = 0;
	return STUB_ERROR;
}
fdb_error_t fdb_future_get_key(FDBFuture* f, const uint8_t** k, int* n) {
	(void)f;
	*k = NULL, *n = 0;
	return STUB_ERROR;
}
fdb_error_t fdb_future_get_value(FDBFuture* f, fdb_bool_t* present, const uint8_t** v, int* n) {
	(void)f;
	*present = 0, *v = NULL, *n = 0;
	return STUB_ERROR;
}
fdb_error_t fdb_future_get_keyvalue_array(FDBFuture* f, const FDBKeyValue** kv, int* n, fdb_bool_t* more) {
	(void)f;
	*kv = NULL, *n = 0, *more = 0;
	return STUB_ERROR;
}
fdb_error_t fdb_future_get_key_array(FDBFuture* f, const FDBKey** ks, int* n) {
	(void)f;
	*ks = NULL, *n = 0;
	return STUB_ERROR;
}
fdb_error_t fdb_future_get_string_array(FDBFuture* f, const char*** ss, int* n) {
	(void)f;
	*ss = NULL, *n = 0;
	return STUB_ERROR;
}

fdb_error_t fdb_create_database(const char* path, FDBDatabase** out) {
	(void)path;
	*out = NULL;
	return STUB_ERROR;
}
fdb_error_t fdb_create_database_from_connection_string(const char* s, FDBDatabase** out) {
	(void)s;
	*out = NULL;
	return STUB_ERROR;
}
void fdb_database_destroy(FDBDatabase* d) { (void)d; }
fdb_error_t fdb_database_set_option(FDBDatabase* d, FDBDatabaseOption o, const uint8_t* v, int n) {
	(void)d, (void)o, (void)v, (void)n;
	return STUB_ERROR;
}
fdb_error_t fdb_database_open_tenant(FDBDatabase* d, const uint8_t* name, int n, FDBTenant** out) {
	(void)d, (void)name, (void)n;
	*out = NULL;
	return STUB_ERROR;
}
fdb_error_t fdb_database_create_transaction(FDBDatabase* d, FDBTransaction** out) {
	(void)d;
	*out = NULL;
	return STUB_ERROR;
}
FDBFuture* fdb_database_reboot_worker(FDBDatabase* d, const uint8_t* a, int n, fdb_bool_t c, int s) {
	(void)d, (void)a, (void)n, (void)c, (void)s;
	return &failed;
}
FDBFuture* fdb_database_get_client_status(FDBDatabase* d) {
	(void)d;
	return &failed;
}
void fdb_tenant_destroy(FDBTenant* t) { (void)t; }
fdb_error_t fdb_tenant_create_transaction(FDBTenant* t, FDBTransaction** out) {
	(void)t;
	*out = NULL;
	return STUB_ERROR;
}

void fdb_transaction_destroy(FDBTransaction* tr) { (void)tr; }
void fdb_transaction_cancel(FDBTransaction* tr) { (void)tr; }
void fdb_transaction_reset(FDBTransaction* tr) { (void)tr; }
fdb_error_t fdb_transaction_set_option(FDBTransaction* tr, FDBTransactionOption o, const uint8_t* v, int n) {
	(void)tr, (void)o, (void)v, (void)n;
	return STUB_ERROR;
}
void fdb_transaction_set_read_version(FDBTransaction* tr, int64_t v) { (void)tr, (void)v; }
FDBFuture* fdb_transaction_get_read_version(FDBTransaction* tr) {
	(void)tr;
	return &failed;
}
FDBFuture* fdb_transaction_get(FDBTransaction* tr, const uint8_t* k, int n, fdb_bool_t snap) {
	(void)tr, (void)k, (void)n, (void)snap;
	return &failed;
}
FDBFuture* fdb_transaction_get_key(FDBTransaction* tr, const uint8_t* k, int n, fdb_bool_t eq, int off,
                                   fdb_bool_t snap) {
	(void)tr, (void)k, (void)n, (void)eq, (void)off, (void)snap;
	return &failed;
}
FDBFuture* fdb_transaction_get_range(FDBTransaction* tr, const uint8_t* b, int bn, fdb_bool_t beq, int boff,
                                     const uint8_t* e, int en, fdb_bool_t eeq, int eoff, int limit, int bytes,
                                     FDBStreamingMode mode, int iteration, fdb_bool_t snap, fdb_bool_t rev) {
	(void)tr, (void)b, (void)bn, (void)beq, (void)boff, (void)e, (void)en, (void)eeq, (void)eoff;
	(void)limit, (void)bytes, (void)mode, (void)iteration, (void)snap, (void)rev;
	return &failed;
}
FDBFuture* fdb_transaction_get_estimated_range_size_bytes(FDBTransaction* tr, const uint8_t* b, int bn,
                                                          const uint8_t* e, int en) {
	(void)tr, (void)b, (void)bn, (void)e, (void)en;
	return &failed;
}
FDBFuture* fdb_transaction_get_range_split_points(FDBTransaction* tr, const uint8_t* b, int bn, const uint8_t* e,
                                                  int en, int64_t chunk) {
	(void)tr, (void)b, (void)bn, (void)e, (void)en, (void)chunk;
	return &failed;
}
FDBFuture* fdb_transaction_get_addresses_for_key(FDBTransaction* tr, const uint8_t* k, int n) {
	(void)tr, (void)k, (void)n;
	return &failed;
}
void fdb_transaction_set(FDBTransaction* tr, const uint8_t* k, int kn, const uint8_t* v, int vn) {
	(void)tr, (void)k, (void)kn, (void)v, (void)vn;
}
void fdb_transaction_atomic_op(FDBTransaction* tr, const uint8_t* k, int kn, const uint8_t* p, int pn,
                               FDBMutationType op) {
	(void)tr, (void)k, (void)kn, (void)p, (void)pn, (void)op;
}
void fdb_transaction_clear(FDBTransaction* tr, const uint8_t* k, int n) { (void)tr, (void)k, (void)n; }
void fdb_transaction_clear_range(FDBTransaction* tr, const uint8_t* b, int bn, const uint8_t* e, int en) {
	(void)tr, (void)b, (void)bn, (void)e, (void)en;
}
FDBFuture* fdb_transaction_watch(FDBTransaction* tr, const uint8_t* k, int n) {
	(void)tr, (void)k, (void)n;
	return &failed;
}
FDBFuture* fdb_transaction_commit(FDBTransaction* tr) {
	(void)tr;
	return &failed;
}
fdb_error_t fdb_transaction_get_committed_version(FDBTransaction* tr, int64_t* out) {
	(void)tr;
	*out = 0;
	return STUB_ERROR;
}
FDBFuture* fdb_transaction_get_approximate_size(FDBTransaction* tr) {
	(void)tr;
	return &failed;
}
FDBFuture* fdb_transaction_get_versionstamp(FDBTransaction* tr) {
	(void)tr;
	return &failed;
}
FDBFuture* fdb_transaction_on_error(FDBTransaction* tr, fdb_error_t err) {
	(void)tr, (void)err;
	return &failed;
}
fdb_error_t fdb_transaction_add_conflict_range(FDBTransaction* tr, const uint8_t* b, int bn, const uint8_t* e,
                                               int en, FDBConflictRangeType t) {
	(void)tr, (void)b, (void)bn, (void)e, (void)en, (void)t;
	return STUB_ERROR;
}
