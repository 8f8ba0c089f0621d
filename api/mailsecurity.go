package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// mailSecurityJSON is Ferry's own keys, public halves only: what operators
// hand to partners so that they can check alerts and encrypt to Ferry.
type mailSecurityJSON struct {
	Email              string    `json:"email"`
	Sign               string    `json:"sign"`
	OpenPGP            string    `json:"openpgp"`
	OpenPGPFingerprint string    `json:"openpgp_fingerprint"`
	SMIME              string    `json:"smime"`
	SMIMEFingerprint   string    `json:"smime_fingerprint"`
	SMIMENotAfter      time.Time `json:"smime_not_after"`
}

// getMailSecurity shows Ferry's OpenPGP public key and S/MIME certificate
// with their fingerprints. The secret halves are in no field of Identity
// that this can reach.
func (s *Server) getMailSecurity(c echo.Context) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	if s.Identity == nil {
		return notConfigured("mail security keys")
	}
	id := s.Identity
	v := mailSecurityJSON{Email: id.Email, Sign: s.MailSign, OpenPGP: id.OpenPGPPublicKey(),
		OpenPGPFingerprint: id.OpenPGPFingerprint(), SMIME: id.SMIMECertificate(), SMIMEFingerprint: id.SMIMEFingerprint(),
		SMIMENotAfter: id.SMIMENotAfter().UTC()}
	if v.Sign == "" {
		v.Sign = "smime"
	}
	c.Response().Header().Set("ETag", etagOf(v))
	return writeJSON(c, http.StatusOK, v)
}
