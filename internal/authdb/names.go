package authdb

import "context"

// SetCredentialName names (or, with name "", unnames) one of the user's
// credentials for display. The id is not checked against the user's
// credentials: a name of nothing is harmless and shown nowhere.
func (d *DB) SetCredentialName(ctx context.Context, userID string, credentialID []byte, name string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if len(credentialID) == 0 || len(credentialID) > MaxCredentialIDLen {
		return invalid("credential id must be 1..%d bytes", MaxCredentialIDLen)
	}
	if err := checkText("name", name, 0, MaxLabelLen); err != nil {
		return err
	}
	var err error
	if name == "" {
		_, err = d.db.ExecContext(ctx, d.q(`DELETE FROM credential_names WHERE user_id = ? AND credential_id = ?`), userID, credentialID)
	} else {
		_, err = d.db.ExecContext(ctx, d.q(`INSERT INTO credential_names (user_id, credential_id, name) VALUES (?, ?, ?)
			ON CONFLICT (user_id, credential_id) DO UPDATE SET name = excluded.name`), userID, credentialID, name)
	}
	if err != nil {
		return dbError("name credential", err)
	}
	return nil
}

// CredentialNames returns the user's credential names, by credential id
// (as a string of its bytes).
func (d *DB) CredentialNames(ctx context.Context, userID string) (map[string]string, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT credential_id, name FROM credential_names WHERE user_id = ?`), userID)
	type named struct{ id, name string }
	ns, err := collect(rows, err, func(r scanner) (named, error) {
		var (
			n  named
			id []byte
		)
		err := r.Scan(&id, &n.name)
		n.id = string(id)
		return n, err
	})
	if err != nil {
		return nil, dbError("list credential names", err)
	}
	out := map[string]string{}
	for _, n := range ns {
		out[n.id] = n.name
	}
	return out, nil
}
