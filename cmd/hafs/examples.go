package main

// examples are the EXAMPLES sections of hafs's help, by command path.
var examples = map[string][]string{
	"": {
		"hafs status",
		"hafs --store etcd://10.0.0.1:2379/hafs fsck",
		"hafs site add --endpoint https://s3.example.com --bucket hafs --role burst cloud",
	},
	"status": {
		"hafs status",
		"hafs status --json --store etcd://10.0.0.1:2379/hafs --name projects",
	},
	"fsck": {
		"hafs fsck",
		"# replace references to lost objects with holes",
		"hafs fsck --repair",
	},
	"gc": {
		"# what would go, then delete objects unreferenced for a day",
		"hafs gc --dry-run",
		"hafs gc --grace 24h",
	},
	"site": {
		"hafs site list",
		"hafs site add --endpoint http://cloud:9000 --bucket hafs --role burst cloud",
		"hafs site remove cloud",
	},
	"site add": {
		"AWS_PROFILE=cloud hafs site add --endpoint http://cloud:9000 --bucket hafs --role burst cloud",
		"hafs site add --endpoint https://s3.eu-west-1.amazonaws.com --region eu-west-1 --bucket hafs-dr --prefix fs1 --role backup dr",
		"# a directory, local or shared by NFS",
		"hafs site add --endpoint file:///srv/hafs-blocks --role backup nfs",
	},
	"site list":   {"hafs site list", "hafs site list --json"},
	"site remove": {"# copy what only cloud holds to the other sites, then forget it", "hafs site remove cloud"},
	"policy": {
		"hafs policy add --pattern 'projects/**' --ops read --roles burst,primary --priority 10 hot",
		"hafs policy list",
		"hafs policy explain projects/a/b read",
	},
	"policy add":     {"hafs policy add --pattern 'projects/**' --ops read --roles burst,primary --priority 10 hot"},
	"policy list":    {"hafs policy list --json"},
	"policy remove":  {"hafs policy remove hot"},
	"policy explain": {"hafs policy explain projects/a/b read"},
	"serve": {
		"# WebDAV and a browser view on loopback",
		"hafs serve --listen 127.0.0.1:8080",
		"# on every address: TLS and authentication are required",
		"hafs serve --listen :8443 --tls-cert gw.crt --tls-key gw.key --auth-file /etc/hafs/users --root projects",
	},
	"quota": {
		"hafs quota set --bytes 100G --inodes 1000000 /projects/a",
		"hafs quota list",
	},
	"quota set": {
		"hafs quota set --bytes 1T --inodes 10000000 /projects/a",
		"# change one limit, remove the other",
		"hafs quota set --bytes 2T --inodes 0 /projects/a",
	},
	"quota get":   {"hafs quota get /projects/a"},
	"quota list":  {"hafs quota list", "hafs quota list --store etcd://10.0.0.1:2379/hafs --name projects"},
	"quota unset": {"hafs quota unset /projects/a"},
	"bench": {
		"# against /tmp, with the defaults (a 1 GiB file, 1000 files of 128 KiB)",
		"hafs bench /mnt/hafs",
		"# a quick look",
		"hafs bench --big-size 64 --small-files 100 --local /var/tmp /mnt/hafs",
	},
}
