package storage

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/intellistack/intellistack/modules/store"
)

// AccountChanges are the account operations of better_auth_api that the
// provider's pages do not have: a signed-in user's change of address (a
// mailed link to the new address, Better-Auth's change-email), and the
// admin plugin's create-user (optionally without a password), update-user,
// set-user-password and revoke-user-session. Each is one transaction.
type AccountChanges interface {
	// CreateEmailChange stores a pending change of address under
	// identifier (PurposeChangeEmail + the token's hash) and deletes the
	// user's earlier pending changes: only the newest link works.
	CreateEmailChange(ctx context.Context, identifier string, c EmailChange, expiresAt, now time.Time) error

	// PendingEmailChange reads an unexpired pending change without
	// spending it, or ErrNotFound.
	PendingEmailChange(ctx context.Context, identifier string, now time.Time) (EmailChange, error)

	// ChangeEmail spends a pending change (once) and gives its user the
	// new address, verified (following the link proves it), and deletes
	// the user's e-mail verifications of the old address. ErrNotFound for
	// an unknown or spent identifier, ErrExpired, ErrUserBlocked when the
	// user is gone, ErrEmailChanged when the user's address is no longer
	// the one the change was asked from, ErrEmailTaken when another user
	// took the new address meanwhile (then nothing is spent).
	ChangeEmail(ctx context.Context, identifier string, now time.Time) (*User, error)

	// CreateUserNoPassword adds u (id and DefaultRole as CreateUser) with
	// the credential account passwordHash, or, with passwordHash "", with
	// no way to sign in yet (Better-Auth's admin create-user without a
	// password: the user signs in through a linked upstream of the same
	// verified address, or after set-user-password). ErrEmailTaken.
	CreateUserNoPassword(ctx context.Context, u User, passwordHash string) (*User, error)

	// UpdateUserFields sets the fields of c that are not nil and returns
	// the user. Banning (Banned true) also ends the user's sessions and
	// revokes their tokens, as BanUser. ErrNotFound, ErrEmailTaken.
	UpdateUserFields(ctx context.Context, userID string, c UserFields, now time.Time) (*User, error)

	// AdminSetPassword replaces the user's password hash, or adds a credential
	// account when the user has none, and ends everything the old
	// credentials started (sessions, refresh-token families, access
	// tokens, reset links), as ChangePassword. ErrNotFound for an unknown
	// user.
	AdminSetPassword(ctx context.Context, userID, passwordHash string, now time.Time) error

	// DeleteSessionByID deletes the session with this id, whoever's it
	// is, and returns it, or ErrNotFound (DeleteSession takes a token
	// hash).
	DeleteSessionByID(ctx context.Context, id string) (*Session, error)
}

// PurposeChangeEmail is the identifier prefix of a pending change of
// address.
const PurposeChangeEmail = "change-email:"

// ErrEmailChanged: the user's address changed after the link was sent.
var ErrEmailChanged = errors.New("the address changed since the link was sent")

// EmailChange is a pending change of a user's address from From to To.
// It is stored as the verification's value "<user id>\n<from>\n<to>"
// (addresses hold no line breaks), so the value still starts with the user
// id like every other verification.
type EmailChange struct {
	UserID, From, To string
}

func (c EmailChange) value() string { return c.UserID + "\n" + c.From + "\n" + c.To }

func parseEmailChange(v string) (EmailChange, error) {
	parts := strings.Split(v, "\n")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return EmailChange{}, ErrNotFound
	}
	return EmailChange{UserID: parts[0], From: parts[1], To: parts[2]}, nil
}

// UserFields are the columns the admin plugin's update-user may set; nil
// leaves a column as it is. BanReason "" and a zero BanExpires store NULL.
type UserFields struct {
	Name          *string
	Image         *string
	Email         *string
	EmailVerified *bool
	Role          *string
	Banned        *bool
	BanReason     *string
	BanExpires    *time.Time
}

var _ AccountChanges = (*SQL)(nil)

// CreateEmailChange implements AccountChanges.
func (s *SQL) CreateEmailChange(ctx context.Context, identifier string, c EmailChange, expiresAt, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := deleteEmailChanges(ctx, tx, c.UserID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO verifications (id, identifier, value, expires_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, NewID(), identifier, c.value(), ms(expiresAt), ms(now), ms(now))
		return err
	})
}

// deleteEmailChanges deletes a user's pending changes of address: the
// value starts with the user id and a line break (compared with substr,
// not LIKE, since an imported id may hold % or _).
func deleteEmailChanges(ctx context.Context, tx *store.Tx, userID string) error {
	prefix := userID + "\n"
	_, err := tx.Exec(ctx, "DELETE FROM verifications WHERE identifier LIKE ? AND substr(value, 1, ?) = ?",
		likePrefix(PurposeChangeEmail), utf8.RuneCountInString(prefix), prefix)
	return err
}

// deleteUserVerifications deletes every verification of a user: reset and
// verification links and pending changes of address.
func deleteUserVerifications(ctx context.Context, tx *store.Tx, userID string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM verifications WHERE value = ?", userID); err != nil {
		return err
	}
	return deleteEmailChanges(ctx, tx, userID)
}

// PendingEmailChange implements AccountChanges.
func (s *SQL) PendingEmailChange(ctx context.Context, identifier string, now time.Time) (EmailChange, error) {
	v, err := s.Verification(ctx, identifier, now)
	if err != nil {
		return EmailChange{}, err
	}
	return parseEmailChange(v)
}

// ChangeEmail implements AccountChanges.
func (s *SQL) ChangeEmail(ctx context.Context, identifier string, now time.Time) (*User, error) {
	var u *User
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		v, err := spendVerification(ctx, tx, identifier, now)
		if err != nil {
			return err
		}
		c, err := parseEmailChange(v)
		if err != nil {
			return err
		}
		var current string
		if err := tx.QueryRow(ctx, "SELECT email FROM users WHERE id = ?"+forUpdate(tx), c.UserID).Scan(&current); err != nil {
			if errors.Is(notFound(err), ErrNotFound) {
				return ErrUserBlocked
			}
			return err
		}
		if current != c.From {
			return ErrEmailChanged
		}
		if _, err := tx.Exec(ctx, "UPDATE users SET email = ?, email_verified = 1, updated_at = ? WHERE id = ?", c.To, ms(now), c.UserID); err != nil {
			if store.IsUniqueViolation(err) {
				return ErrEmailTaken
			}
			return err
		}
		// Links mailed to the old address must not verify the new one.
		if _, err := tx.Exec(ctx, "DELETE FROM verifications WHERE value = ? AND identifier LIKE ?", c.UserID,
			likePrefix(PurposeEmailVerification)); err != nil {
			return err
		}
		u, err = userByID(ctx, tx, c.UserID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// CreateUserNoPassword implements AccountChanges.
func (s *SQL) CreateUserNoPassword(ctx context.Context, u User, passwordHash string) (*User, error) {
	if passwordHash != "" {
		return s.CreateUser(ctx, u, passwordHash)
	}
	return s.createUser(ctx, u, func(*store.Tx, *User) error { return nil })
}

// UpdateUserFields implements AccountChanges.
func (s *SQL) UpdateUserFields(ctx context.Context, userID string, c UserFields, now time.Time) (*User, error) {
	set, args := "updated_at = ?", []any{ms(now)}
	add := func(col string, v any) {
		set += ", " + col + " = ?"
		args = append(args, v)
	}
	boolean := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	if c.Name != nil {
		add("name", *c.Name)
	}
	if c.Image != nil {
		add("image", nullString(*c.Image))
	}
	if c.Email != nil {
		add("email", *c.Email)
	}
	if c.EmailVerified != nil {
		add("email_verified", boolean(*c.EmailVerified))
	}
	if c.Role != nil {
		add("role", *c.Role)
	}
	if c.Banned != nil {
		add("banned", boolean(*c.Banned))
	}
	if c.BanReason != nil {
		add("ban_reason", nullString(*c.BanReason))
	}
	if c.BanExpires != nil {
		add("ban_expires", nullMS(*c.BanExpires))
	}
	var u *User
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, "UPDATE users SET "+set+" WHERE id = ?", append(args, userID)...)
		if err != nil && store.IsUniqueViolation(err) {
			return ErrEmailTaken
		}
		if err := affected(res, err); err != nil {
			return err
		}
		if c.Banned != nil && *c.Banned {
			if _, err := endSessions(ctx, tx, userID, now); err != nil {
				return err
			}
		}
		u, err = userByID(ctx, tx, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// AdminSetPassword implements AccountChanges.
func (s *SQL) AdminSetPassword(ctx context.Context, userID, passwordHash string, now time.Time) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		err := replacePassword(ctx, tx, userID, passwordHash, now)
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		// No credential account yet: add one, after checking the user
		// (the insert would otherwise fail on the foreign key).
		if _, err := userByID(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, user_id, provider_id, account_id, password, created_at, updated_at)
			VALUES (?, ?, 'credential', ?, ?, ?, ?)`, NewID(), userID, userID, passwordHash, ms(now), ms(now)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM verifications WHERE value = ? AND identifier LIKE ?", userID, likePrefix(PurposeResetPassword)); err != nil {
			return err
		}
		_, err = endSessions(ctx, tx, userID, now)
		return err
	})
}

// DeleteSessionByID implements AccountChanges.
func (s *SQL) DeleteSessionByID(ctx context.Context, id string) (*Session, error) {
	return scanSession(s.db.QueryRow(ctx, "DELETE FROM sessions WHERE id = ? RETURNING "+sessionColumns, id))
}
