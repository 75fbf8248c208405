/*
 * HAFS's own declaration of the FoundationDB C client API (API version
 * 730), written from FoundationDB's API documentation (api-c.html). It
 * declares exactly what the Go bindings (github.com/apple/foundationdb/
 * bindings/go, release-7.3) and fdbstore/fdbbackend call, so that CI can
 * compile and vet `-tags fdb` on a machine without FoundationDB, against
 * the stub library next to this directory (scripts/fdbstub/fdb_c_stub.c).
 *
 * It is used only for that check (scripts/fdbcheck.sh). Real builds use the
 * fdb_c.h the FoundationDB client package installs; nothing built against
 * this header can talk to a cluster.
 */
#ifndef HAFS_FDB_C_STUB_H
#define HAFS_FDB_C_STUB_H

#ifndef FDB_API_VERSION
#error "define FDB_API_VERSION before including fdb_c.h"
#endif
#if FDB_API_VERSION > 730
#error "this header declares API version 730 only"
#endif

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int fdb_error_t;
typedef int fdb_bool_t;

/* Opaque handles. */
typedef struct FDB_future FDBFuture;
typedef struct FDB_database FDBDatabase;
typedef struct FDB_transaction FDBTransaction;
typedef struct FDB_tenant FDBTenant;

typedef void (*FDBCallback)(FDBFuture* future, void* callback_parameter);

/*
 * Keys and key-value pairs handed out by futures. The client packs them
 * to 4 bytes, and the Go bindings read them at fixed offsets (12 bytes a
 * key, 24 a pair), so the packing is part of the API.
 */
#pragma pack(push, 4)
typedef struct keyvalue {
	const uint8_t* key;
	int key_length;
	const uint8_t* value;
	int value_length;
} FDBKeyValue;

typedef struct key {
	const uint8_t* key;
	int key_length;
} FDBKey;
#pragma pack(pop)

/*
 * Option and mode enumerations. The bindings pass their own numeric codes
 * (generated from fdb.options), so only the types and the values named
 * here matter to a compile.
 */
typedef enum { FDB_NET_OPTION_TRACE_ENABLE = 30 } FDBNetworkOption;
typedef enum { FDB_DB_OPTION_TRANSACTION_TIMEOUT = 500 } FDBDatabaseOption;
typedef enum {
	FDB_TR_OPTION_PRIORITY_BATCH = 201,
	FDB_TR_OPTION_TIMEOUT = 500,
	FDB_TR_OPTION_RETRY_LIMIT = 501
} FDBTransactionOption;
typedef enum {
	FDB_STREAMING_MODE_WANT_ALL = -2,
	FDB_STREAMING_MODE_ITERATOR = -1,
	FDB_STREAMING_MODE_EXACT = 0,
	FDB_STREAMING_MODE_SMALL = 1,
	FDB_STREAMING_MODE_MEDIUM = 2,
	FDB_STREAMING_MODE_LARGE = 3,
	FDB_STREAMING_MODE_SERIAL = 4
} FDBStreamingMode;
typedef enum { FDB_MUTATION_TYPE_ADD = 2 } FDBMutationType;
typedef enum {
	FDB_CONFLICT_RANGE_TYPE_READ = 0,
	FDB_CONFLICT_RANGE_TYPE_WRITE = 1
} FDBConflictRangeType;
typedef enum {
	FDB_ERROR_PREDICATE_RETRYABLE = 50000,
	FDB_ERROR_PREDICATE_MAYBE_COMMITTED = 50001,
	FDB_ERROR_PREDICATE_RETRYABLE_NOT_COMMITTED = 50002
} FDBErrorPredicate;

/* Errors. */
const char* fdb_get_error(fdb_error_t code);
fdb_bool_t fdb_error_predicate(int predicate_test, fdb_error_t code);

/* API version and network. */
fdb_error_t fdb_select_api_version_impl(int runtime_version, int header_version);
int fdb_get_max_api_version(void);
#define fdb_select_api_version(v) fdb_select_api_version_impl(v, FDB_API_VERSION)
fdb_error_t fdb_network_set_option(FDBNetworkOption option, const uint8_t* value, int value_length);
fdb_error_t fdb_setup_network(void);
fdb_error_t fdb_run_network(void);
fdb_error_t fdb_stop_network(void);

/* Futures. */
void fdb_future_cancel(FDBFuture* f);
void fdb_future_release_memory(FDBFuture* f);
void fdb_future_destroy(FDBFuture* f);
fdb_error_t fdb_future_block_until_ready(FDBFuture* f);
fdb_bool_t fdb_future_is_ready(FDBFuture* f);
fdb_error_t fdb_future_set_callback(FDBFuture* f, FDBCallback callback, void* callback_parameter);
fdb_error_t fdb_future_get_error(FDBFuture* f);
fdb_error_t fdb_future_get_int64(FDBFuture* f, int64_t* out);
fdb_error_t fdb_future_get_key(FDBFuture* f, const uint8_t** out_key, int* out_key_length);
fdb_error_t fdb_future_get_value(FDBFuture* f, fdb_bool_t* out_present, const uint8_t** out_value,
                                 int* out_value_length);
fdb_error_t fdb_future_get_keyvalue_array(FDBFuture* f, const FDBKeyValue** out_kv, int* out_count,
                                          fdb_bool_t* out_more);
fdb_error_t fdb_future_get_key_array(FDBFuture* f, const FDBKey** out_key_array, int* out_count);
fdb_error_t fdb_future_get_string_array(FDBFuture* f, const char*** out_strings, int* out_count);

/* Databases and tenants. */
fdb_error_t fdb_create_database(const char* cluster_file_path, FDBDatabase** out_database);
fdb_error_t fdb_create_database_from_connection_string(const char* connection_string,
                                                       FDBDatabase** out_database);
void fdb_database_destroy(FDBDatabase* d);
fdb_error_t fdb_database_set_option(FDBDatabase* d, FDBDatabaseOption option, const uint8_t* value,
                                    int value_length);
fdb_error_t fdb_database_open_tenant(FDBDatabase* d, const uint8_t* tenant_name, int tenant_name_length,
                                     FDBTenant** out_tenant);
fdb_error_t fdb_database_create_transaction(FDBDatabase* d, FDBTransaction** out_transaction);
FDBFuture* fdb_database_reboot_worker(FDBDatabase* d, const uint8_t* address, int address_length,
                                      fdb_bool_t check, int duration);
FDBFuture* fdb_database_get_client_status(FDBDatabase* d);
void fdb_tenant_destroy(FDBTenant* t);
fdb_error_t fdb_tenant_create_transaction(FDBTenant* t, FDBTransaction** out_transaction);

/* Transactions. */
void fdb_transaction_destroy(FDBTransaction* tr);
void fdb_transaction_cancel(FDBTransaction* tr);
void fdb_transaction_reset(FDBTransaction* tr);
fdb_error_t fdb_transaction_set_option(FDBTransaction* tr, FDBTransactionOption option, const uint8_t* value,
                                       int value_length);
void fdb_transaction_set_read_version(FDBTransaction* tr, int64_t version);
FDBFuture* fdb_transaction_get_read_version(FDBTransaction* tr);
FDBFuture* fdb_transaction_get(FDBTransaction* tr, const uint8_t* key_name, int key_name_length,
                               fdb_bool_t snapshot);
FDBFuture* fdb_transaction_get_key(FDBTransaction* tr, const uint8_t* key_name, int key_name_length,
                                   fdb_bool_t or_equal, int offset, fdb_bool_t snapshot);
FDBFuture* fdb_transaction_get_range(FDBTransaction* tr, const uint8_t* begin_key_name, int begin_key_name_length,
                                     fdb_bool_t begin_or_equal, int begin_offset, const uint8_t* end_key_name,
                                     int end_key_name_length, fdb_bool_t end_or_equal, int end_offset, int limit,
                                     int target_bytes, FDBStreamingMode mode, int iteration, fdb_bool_t snapshot,
                                     fdb_bool_t reverse);
FDBFuture* fdb_transaction_get_estimated_range_size_bytes(FDBTransaction* tr, const uint8_t* begin_key_name,
                                                          int begin_key_name_length, const uint8_t* end_key_name,
                                                          int end_key_name_length);
FDBFuture* fdb_transaction_get_range_split_points(FDBTransaction* tr, const uint8_t* begin_key_name,
                                                  int begin_key_name_length, const uint8_t* end_key_name,
                                                  int end_key_name_length, int64_t chunk_size);
FDBFuture* fdb_transaction_get_addresses_for_key(FDBTransaction* tr, const uint8_t* key_name, int key_name_length);
void fdb_transaction_set(FDBTransaction* tr, const uint8_t* key_name, int key_name_length, const uint8_t* value,
                         int value_length);
void fdb_transaction_atomic_op(FDBTransaction* tr, const uint8_t* key_name, int key_name_length,
                               const uint8_t* param, int param_length, FDBMutationType operation_type);
void fdb_transaction_clear(FDBTransaction* tr, const uint8_t* key_name, int key_name_length);
void fdb_transaction_clear_range(FDBTransaction* tr, const uint8_t* begin_key_name, int begin_key_name_length,
                                 const uint8_t* end_key_name, int end_key_name_length);
FDBFuture* fdb_transaction_watch(FDBTransaction* tr, const uint8_t* key_name, int key_name_length);
FDBFuture* fdb_transaction_commit(FDBTransaction* tr);
fdb_error_t fdb_transaction_get_committed_version(FDBTransaction* tr, int64_t* out_version);
FDBFuture* fdb_transaction_get_approximate_size(FDBTransaction* tr);
FDBFuture* fdb_transaction_get_versionstamp(FDBTransaction* tr);
FDBFuture* fdb_transaction_on_error(FDBTransaction* tr, fdb_error_t error);
fdb_error_t fdb_transaction_add_conflict_range(FDBTransaction* tr, const uint8_t* begin_key_name,
                                               int begin_key_name_length, const uint8_t* end_key_name,
                                               int end_key_name_length, FDBConflictRangeType type);

#ifdef __cplusplus
}
#endif
#endif
