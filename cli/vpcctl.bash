# bash completion for vpcctl: commands, subcommands and options.
_vpcctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} sub=${COMP_WORDS[2]}
  local words
  if ((COMP_CWORD == 1)); then
    words="vpc subnet peering policy instance lab reach impair flow-log flow-logs events forward health status plan --socket --output --help"
  elif ((COMP_CWORD == 2)); then
    case $cmd in
      vpc) words="create list show delete" ;;
      subnet) words="create list show delete" ;;
      peering) words="request list show accept reject delete" ;;
      policy) words="apply list show delete stats" ;;
      instance) words="create list show delete stop start reset serial console nic available-ips" ;;
      lab) words="apply plan destroy list show export graph verify" ;;
      impair) words="set enable disable list show delete" ;;
      flow-log) words="set enable disable list show delete" ;;
    esac
  else
    case "$cmd $sub" in
      "instance nic") ((COMP_CWORD == 3)) && words="add remove" || words="--subnet --ip" ;;
      "instance create") words="--nic --label --metadata --tag" ;;
      "instance list") words="--label --vpc" ;;
      "instance serial") words="--follow" ;;
      "lab apply" | "lab plan") compopt -o default; words="-f --file --adopt --reach" ;;
      "lab graph") words="--format --title" ;;
      "policy apply") compopt -o default; words="-f --file --name" ;;
      "subnet create") words="--cidr --public --private" ;;
      "vpc create") words="--cidr --mtu" ;;
      "peering request") words="--vpc --peer-vpc --allow --expires-in" ;;
      "flow-log set") words="--target --aggregation --disabled" ;;
    esac
    [[ $cmd == flow-logs ]] && words="--tail --follow"
    words="$words --output --socket"
  fi
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F _vpcctl vpcctl
