//go:build !fdb

package storeurl

import (
	"errors"

	"github.com/hafs/hafs/fdbstore"
)

// fdbBuilt reports that this binary was built without FoundationDB.
const fdbBuilt = false

func openFDB(Spec, fdbstore.Options) (fdbstore.Store, error) {
	return nil, errors.New("this binary was built without FoundationDB support; " +
		"install the FoundationDB client (libfdb_c) and rebuild with `make build TAGS=fdb`")
}
