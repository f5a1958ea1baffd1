package proxy

import (
	"errors"
	"io"
	"net/http"
)

// switchProtocols completes an upgrade (WebSocket and the like): it hijacks the client connection,
// relays the 101 response and splices the two connections until either side closes or the request
// context is cancelled (a gateway shutdown past its drain deadline).
func (p *Proxy) switchProtocols(w http.ResponseWriter, r *http.Request, resp *http.Response, reqUp string) *Error {
	back, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return &Error{Status: http.StatusBadGateway, Msg: "upstream switched protocols without a writable body",
			Err: errors.New("101 response body is not writable")}
	}
	// Only a protocol that was asked for (and so allowed) may open a tunnel: a 101 to a request that
	// was forwarded as a plain one would carry the client's next requests past the routes.
	if respUp := responseUpgrade(resp.Header); reqUp == "" || respUp == "" || !listed([]string{reqUp}, respUp) {
		back.Close()
		return &Error{Status: http.StatusBadGateway, Msg: "upstream switched to an unrequested protocol",
			Err: errors.New("upgrade mismatch: requested " + quote(reqUp) + ", got " + quote(respUp))}
	}
	dst := w.Header()
	nominated := resp.Header["Connection"]
	for k, vv := range resp.Header {
		if hopByHop(k) || listed(nominated, k) {
			continue
		}
		dst[k] = vv
	}
	// The client's connection switches too: that much of the hop-by-hop header is for it.
	dst["Connection"] = connUpgrade
	dst["Upgrade"] = resp.Header["Upgrade"]
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		back.Close()
		return &Error{Status: http.StatusBadGateway, Msg: "cannot upgrade this connection", Err: err}
	}
	defer conn.Close()
	defer back.Close()

	// The response goes out through the hijacked buffer, then bytes the client sent early are read
	// from the same buffer before the raw connection.
	_, err = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\n")
	if err == nil {
		err = dst.Write(brw)
	}
	if err == nil {
		_, err = io.WriteString(brw, "\r\n")
	}
	if err == nil {
		err = brw.Flush()
	}
	if err != nil {
		return &Error{Msg: "client went away", Err: err}
	}

	errc := make(chan error, 2)
	go splice(errc, back, brw.Reader)
	go splice(errc, conn, back)
	pending := 2
	select {
	case err = <-errc:
		pending--
	case <-r.Context().Done():
		err = r.Context().Err()
	}
	// Either side finishing ends the tunnel: closing both connections unblocks the other copy.
	conn.Close()
	back.Close()
	for ; pending > 0; pending-- {
		<-errc
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	return &Error{Msg: "upgraded connection", Err: err}
}

func splice(errc chan<- error, dst io.Writer, src io.Reader) {
	bp := bufPool.Get().(*[]byte)
	_, err := io.CopyBuffer(dst, src, *bp)
	bufPool.Put(bp)
	errc <- err
}

func quote(s string) string { return `"` + s + `"` }
