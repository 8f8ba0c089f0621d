package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/store"
)

// Headers of a webhook request.
const (
	HeaderSignature = "X-Ferry-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
	HeaderEventID   = "X-Ferry-Event-Id"  // the event's idempotency key, as the body's "id"
	HeaderEvent     = "X-Ferry-Event"     // the event name, as the body's "event"
	HeaderDelivery  = "X-Ferry-Delivery"  // the delivery (event × hook) row
)

// Sign returns the X-Ferry-Signature value of body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of webhook URLs.
var ErrBadWebhookURL = errors.New("notify: invalid webhook URL")

// CheckWebhookURL tells whether raw may be a webhook's URL: http or https,
// a host, no credentials, and (unless allowPrivate) no address or name of
// a loopback, link-local or private host. Names are checked again on every
// request, at the address they resolve to then (see WebhookSender).
func CheckWebhookURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadWebhookURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: the scheme must be http or https", ErrBadWebhookURL)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: no host", ErrBadWebhookURL)
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL; use the secret", ErrBadWebhookURL)
	}
	if allowPrivate {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: %s is a loopback host (FERRY_WEBHOOK_ALLOW_PRIVATE allows it)", ErrBadWebhookURL, host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := refusedAddr(ip); why != "" {
			return fmt.Errorf("%w: %s is %s (FERRY_WEBHOOK_ALLOW_PRIVATE allows it)", ErrBadWebhookURL, host, why)
		}
	}
	return nil
}

// specialRanges are refused besides what netip classifies.
var specialRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// refusedAddr says why a webhook may not reach ip, or "" if it may.
func refusedAddr(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "a link-local address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, p := range specialRanges {
		if p.Contains(ip) {
			return "a reserved address"
		}
	}
	return ""
}

// errRefusedAddr marks a connection the SSRF guard refused.
var errRefusedAddr = errors.New("refused")

// WebhookSender delivers the webhook outbox: a signed JSON POST per row,
// retried with backoff on 5xx, 408, 429, timeouts and network errors, dead
// after MaxAttempts or on any other reply. Like the Notifier, several
// senders on one or several nodes share the rows. Set the fields, then call
// Run (or RunOnce).
type WebhookSender struct {
	Outbox *Outbox // the store and the wake-ups
	// AllowPrivate lets webhooks reach loopback, link-local and private
	// addresses (FERRY_WEBHOOK_ALLOW_PRIVATE). Without it the address each
	// connection is about to dial, after DNS resolution, is checked, so a
	// name that resolves to an internal address later (DNS rebinding) is
	// refused all the same.
	AllowPrivate bool
	// RootCAs verify HTTPS webhooks; nil means the system's roots.
	RootCAs *x509.CertPool
	Logger  *slog.Logger

	Workers      int           // concurrent requests; 0 means 4
	Batch        int           // rows claimed at once; 0 means 16
	PollInterval time.Duration // 0 means 1s
	Lease        time.Duration // 0 means 2m
	Timeout      time.Duration // one request; 0 means 15s
	MaxAttempts  int           // 0 means 12
	BackoffBase  time.Duration // 0 means 30s
	BackoffMax   time.Duration // 0 means 1h
	Now          func() time.Time

	initOnce sync.Once
	client   *http.Client
}

func (w *WebhookSender) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (w *WebhookSender) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *WebhookSender) init() {
	w.initOnce.Do(func() {
		dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		if !w.AllowPrivate {
			dialer.Control = func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("%w: %s: %v", errRefusedAddr, address, err)
				}
				if why := refusedAddr(ap.Addr()); why != "" {
					return fmt.Errorf("%w: %s is %s (FERRY_WEBHOOK_ALLOW_PRIVATE allows it)", errRefusedAddr, ap.Addr(), why)
				}
				return nil
			}
		}
		tr := &http.Transport{
			Proxy:               nil, // a proxy would dial for us, past the guard
			DialContext:         dialer.DialContext,
			TLSClientConfig:     &tls.Config{RootCAs: w.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}
		w.client = &http.Client{Transport: tr, Timeout: cmp.Or(w.Timeout, 15*time.Second),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	})
}

// Run delivers due rows until ctx is done, then waits for the requests in
// flight and returns nil.
func (w *WebhookSender) Run(ctx context.Context) error {
	if w.Outbox == nil || w.Outbox.Store == nil {
		return errors.New("notify: WebhookSender needs an Outbox with a Store")
	}
	poll := cmp.Or(w.PollInterval, time.Second)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		woken := false
		select {
		case <-ctx.Done():
			w.init()
			w.client.CloseIdleConnections()
			return nil
		case <-timer.C:
		case <-w.Outbox.hookWakeC():
			woken = true
		}
		k, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.log().Warn("webhooks: claim deliveries", "err", err)
		}
		next := poll
		if woken {
			// The poke may come before its transaction commits: look
			// again a moment later.
			next = min(next, 50*time.Millisecond)
		}
		if err == nil && k >= cmp.Or(w.Batch, 16) {
			next = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// RunOnce claims one round of due deliveries and makes one attempt at
// each; it returns how many it claimed.
func (w *WebhookSender) RunOnce(ctx context.Context) (int, error) {
	w.init()
	st := w.Outbox.Store
	rows, err := st.ClaimWebhookDeliveries(ctx, w.now(), cmp.Or(w.Lease, 2*time.Minute), cmp.Or(w.Batch, 16))
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, cmp.Or(w.Workers, 4))
	var wg sync.WaitGroup
	for _, row := range rows {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			w.deliver(context.WithoutCancel(ctx), row)
		}()
	}
	wg.Wait()
	return len(rows), nil
}

func (w *WebhookSender) deliver(ctx context.Context, d store.WebhookDelivery) {
	st := w.Outbox.Store
	log := w.log().With("delivery", d.ID, "event", d.Event, "event_id", d.EventID, "webhook", d.WebhookID)
	status, code, err := store.NotifySent, 0, error(nil)
	permanent := false
	hook, herr := st.WebhookByID(ctx, d.WebhookID)
	switch {
	case errors.Is(herr, store.ErrNotFound):
		err, permanent = errors.New("the webhook no longer exists"), true
	case herr != nil:
		err = herr
	default:
		code, permanent, err = w.post(ctx, hook, d)
	}
	var next time.Time
	lastErr := ""
	if err != nil {
		lastErr = err.Error()
		switch {
		case permanent:
			status = store.NotifyDead
		case d.Attempts >= cmp.Or(w.MaxAttempts, 12):
			status = store.NotifyDead
			lastErr = fmt.Sprintf("gave up after %d attempts: %v", d.Attempts, err)
		default:
			status = store.NotifyPending
			next = w.now().Add(w.backoff(d.Attempts))
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	serr := st.SettleWebhookDelivery(sctx, d.ID, d.Token, status, next, lastErr, code)
	switch {
	case errors.Is(serr, store.ErrNotFound):
		log.Warn("webhooks: claim lost before it was settled; another worker retries", "status", status)
	case serr != nil:
		log.Error("webhooks: settle; the row returns after its lease", "err", serr)
	case status == store.NotifyDead:
		log.Error("webhooks: delivery is dead", "err", lastErr, "attempts", d.Attempts)
	case status == store.NotifyPending:
		log.Warn("webhooks: delivery failed, will retry", "err", lastErr, "attempt", d.Attempts, "next", next)
	default:
		log.Info("webhooks: delivered", "code", code)
	}
}

// post makes one request. permanent: retrying cannot help.
func (w *WebhookSender) post(ctx context.Context, hook *store.Webhook, d store.WebhookDelivery) (code int, permanent bool, err error) {
	if !hook.Enabled {
		return 0, true, errors.New("the webhook is disabled")
	}
	body := []byte(d.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return 0, true, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Ferry-Webhook/1")
	req.Header.Set(HeaderEvent, d.Event)
	req.Header.Set(HeaderEventID, d.EventID)
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderSignature, Sign(hook.Secret, w.now(), body))
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, errRefusedAddr) {
			return 0, true, errors.Unwrap(err) // url.Error's cause, without the wrapping
		}
		return 0, false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code = resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return code, false, nil
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return code, false, fmt.Errorf("the receiver answered %s", resp.Status)
	default:
		return code, true, fmt.Errorf("the receiver answered %s", resp.Status)
	}
}

func (w *WebhookSender) backoff(attempt int) time.Duration {
	n := Notifier{BackoffBase: w.BackoffBase, BackoffMax: w.BackoffMax}
	return n.backoff(attempt)
}
