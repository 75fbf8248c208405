package gateway

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
)

// checkXMLBody reads the (bounded) XML body of a PROPFIND, PROPPATCH or
// LOCK and refuses a prefix declared with an empty namespace
// (xmlns:p=""), which XML Namespaces 1.0 forbids but encoding/xml, and so
// the webdav handler, would accept. The body is put back for the handler.
func checkXMLBody(r *http.Request) (int, string) {
	switch r.Method {
	case "PROPFIND", "PROPPATCH", "LOCK":
	default:
		return 0, ""
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, "413 XML body too large"
		}
		return http.StatusBadRequest, "400 cannot read the body"
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return 0, "" // the end, or bad XML the handler reports itself
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" && a.Value == "" {
					return http.StatusBadRequest, "400 empty namespace declared for prefix " + a.Name.Local
				}
			}
		}
	}
}
