package gwapi

// ManagerOptions exposes managerOptions to the external tests.
var ManagerOptions = managerOptions
