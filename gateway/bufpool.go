package gateway

// ioSize is the size of the gateway's reads from and writes to the data
// path: as large as FUSE's (1 MiB), so a GET or PUT costs the store and
// the object store what a mount's sequential I/O does, not a transaction
// per 32 KiB of net/http's copy buffer.
const ioSize = 1 << 20

// maxIOBufs bounds the memory of those buffers whatever the number of
// clients: a transfer that finds none free goes on without one, in the
// caller's smaller pieces.
const maxIOBufs = 64

// bufPool hands out at most maxIOBufs buffers of ioSize.
type bufPool struct{ free chan []byte }

func newBufPool() *bufPool {
	p := &bufPool{free: make(chan []byte, maxIOBufs)}
	for range maxIOBufs {
		p.free <- nil // a token; the buffer is made on first use
	}
	return p
}

// get returns a buffer, or nil when all are in use.
func (p *bufPool) get() []byte {
	select {
	case b := <-p.free:
		if b == nil {
			b = make([]byte, ioSize)
		}
		return b
	default:
		return nil
	}
}

func (p *bufPool) put(b []byte) {
	if b != nil {
		p.free <- b
	}
}
