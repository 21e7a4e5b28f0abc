package auth_test

import "testing"

// TestAccounts runs the service's scenarios on SQLite and on PostgreSQL.
func TestAccounts(t *testing.T) {
	runOnStores(t, map[string]func(*testing.T, store){
		"Register":                  testRegister,
		"CreateUser":                testCreateUser,
		"Login":                     testLogin,
		"LoginRehashes":             testLoginRehashes,
		"RefreshRotation":           testRefreshRotation,
		"RefreshCarriesCurrentRole": testRefreshCarriesCurrentRole,
		"RefreshExpiry":             testRefreshExpiry,
		"RefreshDisabledUser":       testRefreshDisabledUser,
		"Logout":                    testLogout,
		"ChangePassword":            testChangePassword,
		"ConcurrentRefresh":         testConcurrentRefresh,
		"ConcurrentRefreshTwoNodes": testConcurrentRefreshTwoNodes,
		"ConcurrentRegister":        testConcurrentRegister,
	})
}

// TestOAuth runs the OAuth2 scenarios, against oauthtest providers, on both stores.
func TestOAuth(t *testing.T) {
	runOnStores(t, map[string]func(*testing.T, store){
		"Begin":                 testOAuthBegin,
		"NewAccount":            testOAuthNewAccount,
		"LinksVerifiedEmail":    testOAuthLinksVerifiedEmail,
		"UnverifiedEmail":       testOAuthUnverifiedEmail,
		"RejectsBadFlows":       testOAuthRejectsBadFlows,
		"CookieExpires":         testOAuthCookieExpires,
		"PKCE":                  testOAuthPKCE,
		"ProviderDown":          testOAuthProviderDown,
		"ConcurrentFirstSignIn": testOAuthConcurrentFirstSignIn,
	})
}
