package routing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 attempts: a transient failure (connection refused, 5xx, throttling)
// is retried with capped exponential back-off, so one operation gives up
// after at most about maxAttempts*maxBackoff; the caller then sees an
// error (EIO to the application) instead of hanging.
const (
	maxAttempts = 4
	maxBackoff  = 2 * time.Second
)

// S3 is an ObjectStore on one S3-compatible bucket.
type S3 struct {
	site   Site
	client *s3.Client
	// readHeaderTimeout bounds a GET's wait for headers (0: none but
	// the transport's).
	readHeaderTimeout time.Duration
	// signedBodies is set once the server refused an unsigned upload that
	// the classic signed form then got through.
	signedBodies atomic.Bool
}

// OpenS3 returns a client for site. Credentials come from the standard AWS
// chain: the environment (AWS_ACCESS_KEY_ID, ...), then the shared config
// and credentials files, using site.Profile when set. The instance metadata
// service is not consulted, so a machine with no credentials fails at once
// with a clear error instead of waiting on a network timeout.
func OpenS3(ctx context.Context, site Site, options ...S3Option) (*S3, error) {
	o := s3Options{attempts: maxAttempts, headerTimeout: 30 * time.Second, connectTimeout: 30 * time.Second}
	for _, opt := range options {
		opt(&o)
	}
	region := site.Region
	if region == "" {
		region = "us-east-1"
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64
		// A server that accepts the connection and then stalls must not
		// hold a request forever: the attempt fails and is retried.
		t.ResponseHeaderTimeout = o.headerTimeout
	}).WithDialerOptions(func(d *net.Dialer) {
		// A host whose packets vanish answers no SYN: the attempt fails
		// after this, not after the kernel's minutes of retries.
		d.Timeout = o.connectTimeout
	})
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.attempts
				so.MaxBackoff = maxBackoff
			})
		}),
	}
	if site.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(site.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("site %s: load AWS configuration: %w", site, err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(site.Endpoint)
		// HAFS checksums every block itself (CRC32C per page); the SDK's
		// own request checksums would only add a pass over the data.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &S3{site: site, client: client, readHeaderTimeout: o.readHeaderTimeout}, nil
}

// S3Option adjusts OpenS3.
type S3Option func(*s3Options)

type s3Options struct {
	attempts                                         int
	headerTimeout, connectTimeout, readHeaderTimeout time.Duration
}

// WithAttempts sets how many times one request is tried (default 4).
func WithAttempts(n int) S3Option { return func(o *s3Options) { o.attempts = max(n, 1) } }

// WithHeaderTimeout bounds the wait for a response's headers (default 30 s).
func WithHeaderTimeout(d time.Duration) S3Option { return func(o *s3Options) { o.headerTimeout = d } }

// WithConnectTimeout bounds making a connection (default 30 s).
func WithConnectTimeout(d time.Duration) S3Option { return func(o *s3Options) { o.connectTimeout = d } }

// WithReadHeaderTimeout bounds the wait for a GET's response headers
// (default: WithHeaderTimeout's). A GET's headers come as soon as the
// server finds the object, unlike those of an upload, which the server
// may send only once it has stored everything: so reads can give up on a
// site much sooner than writes, and go to the next site.
func WithReadHeaderTimeout(d time.Duration) S3Option {
	return func(o *s3Options) { o.readHeaderTimeout = d }
}

func (s *S3) String() string { return s.site.String() }

func (s *S3) key(k string) *string { return aws.String(s.site.Prefix + k) }

// Objects larger than multipartMin go up as a multipart upload of
// partSize parts, partUploads at a time: a failed part is retried alone,
// and a large block does not ride one connection.
const (
	multipartMin = 16 << 20
	partSize     = 8 << 20
	partUploads  = 4
)

// Put implements ObjectStore.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if len(data) > multipartMin {
		return s.putMultipart(ctx, key, data)
	}
	if s.signedBodies.Load() {
		return s.wrap("put", key, s.putObject(ctx, key, data, true))
	}
	err := s.putObject(ctx, key, data, false)
	if err != nil && (errors.Is(err, errChecksumIgnored) || refusedForm(err)) {
		// A server that refuses an unsigned body or the checksum header,
		// or stores the body without checking the header, gets the
		// classic form from now on, this object included.
		if serr := s.putObject(ctx, key, data, true); serr == nil {
			s.signedBodies.Store(true)
			return nil
		}
	}
	return s.wrap("put", key, err)
}

// errChecksumIgnored is a server that took an unsigned upload without
// answering with the checksum it was sent: nothing says it checked it.
var errChecksumIgnored = errors.New("the server did not confirm the upload's CRC32C")

// putObject uploads data in one request: with signed set, in SigV4's
// classic form (a SHA-256 of the body in the signature); otherwise with an
// unsigned body and a CRC32C header the server checks.
func (s *S3) putObject(ctx context.Context, key string, data []byte, signed bool) error {
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.site.Bucket), Key: s.key(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	}
	if signed {
		_, err := s.client.PutObject(ctx, in)
		return err
	}
	in.ChecksumCRC32C = crc32cHeader(data)
	out, err := s.client.PutObject(ctx, in, unsignedPayload)
	if err != nil {
		return err
	}
	// A server that checks the header echoes it; one that ignores it
	// would store a body damaged on the way without a word.
	if out.ChecksumCRC32C == nil || *out.ChecksumCRC32C != *in.ChecksumCRC32C {
		return errChecksumIgnored
	}
	return nil
}

// refusedForm reports whether err is the server turning down the form of
// an unsigned upload (the unsigned body, or the checksum header), which
// the classic form may avoid. Throttling, clock skew, timeouts and a body
// that fails its checksum (BadDigest: damage on the way, retried as is)
// are not.
func refusedForm(err error) bool {
	for _, code := range []string{"NotImplemented", "InvalidArgument", "InvalidRequest",
		"XAmzContentSHA256Mismatch", "AccessDenied"} {
		if isCode(err, code) {
			return true
		}
	}
	return false
}

// unsignedPayload signs a request's headers but not its body. SigV4's
// SHA-256 of every body costs more CPU than the rest of an upload; the
// body's integrity is the server's check of the CRC32C header instead
// (crc32cHeader), and HAFS verifies its own page checksums on every read.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// crc32cHeader is the x-amz-checksum-crc32c value of data: the server
// refuses a body that does not match it.
func crc32cHeader(data []byte) *string {
	return aws.String(base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32c(data))))
}

// crc32c is the CRC32C (Castagnoli) of data, the checksum HAFS keeps for
// its objects and their pages.
func crc32c(data []byte) uint32 { return crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)) }

// putMultipart uploads data in parts; on any failure it aborts the upload
// so that no parts are left behind in the bucket. Parts go in the classic
// signed form: part checksums need the algorithm declared at creation and
// listed again at completion, which servers implement unevenly, and
// objects this large are rare (a block above 16 MiB).
func (s *S3) putMultipart(ctx context.Context, key string, data []byte) error {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.site.Bucket), Key: s.key(key)})
	if err != nil {
		return s.wrap("put", key, err)
	}
	n := (len(data) + partSize - 1) / partSize
	parts := make([]types.CompletedPart, n)
	errs := inParallel(n, partUploads, func(i int) error {
		body := data[i*partSize : min((i+1)*partSize, len(data))]
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(s.site.Bucket), Key: s.key(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body)))})
		if err != nil {
			return err
		}
		parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))}
		return nil
	})
	err = errors.Join(errs...)
	if err == nil {
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(s.site.Bucket), Key: s.key(key), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	}
	if err != nil {
		// Best effort, on a context of its own: the caller's may be done.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.site.Bucket), Key: s.key(key), UploadId: up.UploadId})
		return s.wrap("put", key, err)
	}
	return nil
}

// Get implements ObjectStore.
func (s *S3) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n > 0 {
		// Straight into a buffer of the size asked: a growing buffer
		// would copy every large response once more.
		dst := make([]byte, n)
		got, err := s.GetInto(ctx, key, off, dst)
		if err != nil {
			return nil, err
		}
		return dst[:got], nil
	}
	body, err := s.open(ctx, key, off, n)
	if body == nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	return data, nil
}

// GetInto implements BufferedStore.
func (s *S3) GetInto(ctx context.Context, key string, off int64, dst []byte) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	body, err := s.open(ctx, key, off, int64(len(dst)))
	if body == nil {
		return 0, err
	}
	defer body.Close()
	// A body that ends early but cleanly is a short object (the caller
	// checks lengths); a broken connection (ErrUnexpectedEOF from the
	// transport) is an error.
	got := 0
	for got < len(dst) {
		n, err := body.Read(dst[got:])
		got += n
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, s.wrap("get", key, err)
		}
	}
	return got, nil
}

// open starts a GET of n bytes of key from off (n < 0: to the end). A
// range past the end gives no body and no error.
func (s *S3) open(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.site.Bucket), Key: s.key(key)}
	switch {
	case n > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	if s.readHeaderTimeout <= 0 {
		out, err := s.client.GetObject(ctx, in)
		if err != nil {
			if isCode(err, "InvalidRange") {
				return nil, nil // past the end
			}
			return nil, s.wrap("get", key, err)
		}
		return out.Body, nil
	}
	// The body is read under the same context, so the bound is a timer
	// that cancels the request only while the headers are awaited.
	gctx, cancel := context.WithCancel(ctx)
	late := time.AfterFunc(s.readHeaderTimeout, cancel)
	out, err := s.client.GetObject(gctx, in)
	inTime := late.Stop()
	if err != nil {
		cancel()
		if isCode(err, "InvalidRange") {
			return nil, nil // past the end
		}
		if !inTime && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", s.readHeaderTimeout, err)
		}
		return nil, s.wrap("get", key, err)
	}
	return cancelOnClose{out.Body, cancel}, nil
}

// cancelOnClose is a response body that ends its request's context when
// closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Delete implements ObjectStore.
func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.site.Bucket), Key: s.key(key)})
	if err = s.wrap("delete", key, err); errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Head implements ObjectStore.
func (s *S3) Head(ctx context.Context, key string) (int64, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.site.Bucket), Key: s.key(key)})
	if err != nil {
		return 0, s.wrap("head", key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// List implements ObjectStore. Keys passed to fn have the site's prefix
// removed, as every other method takes them.
func (s *S3) List(ctx context.Context, prefix string, fn func(Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.site.Bucket), Prefix: s.key(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s.wrap("list", prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)[len(s.site.Prefix):]
			if err := fn(Object{Key: k, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Health implements ObjectStore: the bucket must answer HEAD.
func (s *S3) Health(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.site.Bucket)})
	return s.wrap("health check", "", err)
}

// EnsureBucket creates the bucket if it does not exist.
func (s *S3) EnsureBucket(ctx context.Context) error {
	if err := s.Health(ctx); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.site.Bucket)})
	if isCode(err, "BucketAlreadyOwnedByYou") {
		return nil
	}
	return s.wrap("create bucket", "", err)
}

// wrap gives an SDK error the site and operation as context, maps
// not-found answers to ErrNotFound and keeps the rest to one line.
func (s *S3) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsb *types.NoSuchBucket
	where := s.site.String() + key
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf), isCode(err, "NotFound"), isCode(err, "NoSuchKey"):
		return fmt.Errorf("%s %s: %w", op, where, ErrNotFound)
	case errors.As(err, &nsb), isCode(err, "NoSuchBucket"):
		return fmt.Errorf("%s %s: bucket does not exist: %w", op, where, ErrNotFound)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", op, where, err)
	}
	if noCredentials(err) {
		return refusedError(fmt.Sprintf("%s %s: no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "+
			"or AWS_PROFILE (the site's --profile) naming a profile in ~/.aws/credentials", op, where))
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		// A HEAD has no body to name the reason: its 403 reads "Forbidden".
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed",
			"AllAccessDisabled", "Forbidden":
			return refusedError(fmt.Sprintf("%s %s: the site refused the credentials (%s): check AWS_ACCESS_KEY_ID "+
				"and AWS_SECRET_ACCESS_KEY (or the profile), and that they may use the bucket", op, where, api.ErrorCode()))
		}
		return fmt.Errorf("%s %s: %w: %s: %s", op, where, ErrUnavailable, api.ErrorCode(), api.ErrorMessage())
	}
	return fmt.Errorf("%s %s: %w: %v", op, where, ErrUnavailable, err)
}

// refusedError is a site's refusal of this client, said in one line that
// tells what to fix; it is ErrRefused and ErrUnavailable to errors.Is.
type refusedError string

func (e refusedError) Error() string { return string(e) }

// Is makes the refusal both ErrRefused (mkfs and mount stop on it) and
// ErrUnavailable (a running mount counts it as a failed site).
func (e refusedError) Is(target error) bool { return target == ErrRefused || target == ErrUnavailable }

// noCredentials reports the SDK finding no credentials anywhere in its
// chain. It says so in a long message about the EC2 instance metadata
// service (which OpenS3 turns off) and has no error type of its own for
// it, so the words are matched.
func noCredentials(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "get credentials") &&
		(strings.Contains(msg, "failed to refresh cached credentials") || strings.Contains(msg, "no EC2 IMDS role found"))
}

func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}

// Probe checks that the site can put, read back and delete an object,
// creating the bucket first if needed. hafs-mkfs and site admin run it
// before recording a site.
func Probe(ctx context.Context, s ObjectStore) error {
	if b, ok := s.(interface{ EnsureBucket(context.Context) error }); ok {
		if err := b.EnsureBucket(ctx); err != nil {
			return err
		}
	}
	key := fmt.Sprintf("hafs-probe-%d", time.Now().UnixNano())
	want := []byte("hafs probe " + key)
	if err := s.Put(ctx, key, want); err != nil {
		return err
	}
	got, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("probe %s: read back %d bytes that differ from what was written", s, len(got))
	}
	return s.Delete(ctx, key)
}
