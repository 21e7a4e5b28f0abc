package api

// DecodeHoldRequest exposes the hold-request decoder to the fuzz target.
var DecodeHoldRequest = decodeHoldRequest
