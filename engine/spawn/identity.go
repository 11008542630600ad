package spawn

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// IdentityError is a user or group that thorp cannot run a component as.
// Key is "user" or "group"; Error() is the message without the key.
type IdentityError struct {
	Key string
	Msg string
}

func (e *IdentityError) Error() string { return e.Msg }

// Credential resolves a component's user and group (names, or numeric ids
// that name no account) into the credential to start it with; nil when
// there is nothing to change. It is the one rule for both keys: `thorp
// check` reports its errors (through engine/preflight), `thorp run` and a
// reload refuse a config it rejects before starting anything, and every
// spawn applies it. Setting either key needs thorp to run as root, unless
// it names the identity thorp already runs as. Errors are *IdentityError.
// It is safe for concurrent use.
func Credential(userName, groupName string) (*syscall.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	root := os.Geteuid() == 0
	cred := &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
	if userName != "" {
		u, err := lookupUser(userName)
		if err != nil {
			return nil, &IdentityError{Key: "user", Msg: err.Error()}
		}
		if !root && u.Uid != strconv.Itoa(os.Geteuid()) {
			return nil, &IdentityError{Key: "user", Msg: "user is set but thorp is not running as root"}
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		if ids, err := u.GroupIds(); err == nil {
			for _, g := range ids {
				if n, err := strconv.Atoi(g); err == nil {
					cred.Groups = append(cred.Groups, uint32(n))
				}
			}
		}
	}
	if groupName != "" {
		g, err := lookupGroup(groupName)
		if err != nil {
			return nil, &IdentityError{Key: "group", Msg: err.Error()}
		}
		if !root && g.Gid != strconv.Itoa(os.Getegid()) {
			return nil, &IdentityError{Key: "group", Msg: "group is set but thorp is not running as root"}
		}
		gid, _ := strconv.Atoi(g.Gid)
		cred.Gid = uint32(gid)
	}
	if !root {
		// Only thorp's own identity gets here: nothing to change, and
		// setgroups would fail without CAP_SETGID.
		return nil, nil
	}
	return cred, nil
}

// lookupUser finds a user by name, then by numeric id.
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			if u, err2 := user.LookupId(name); err2 == nil {
				return u, nil
			}
		}
		return nil, fmt.Errorf("no such user %q", name)
	}
	return u, nil
}

// lookupGroup finds a group by name, then by numeric id.
func lookupGroup(name string) (*user.Group, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			if g, err2 := user.LookupGroupId(name); err2 == nil {
				return g, nil
			}
		}
		return nil, fmt.Errorf("no such group %q", name)
	}
	return g, nil
}
